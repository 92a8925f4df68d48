#!/usr/bin/env Rscript
# Reference output for the report's Table 1, Table 2, clinical Time x Group ANOVAs, robustness checks and
# change-change correlations (tests/test_tables.py). Independent of the Python code: R's own functions (car, afex,
# lme4, stats) and textbook formulas, nothing read from Python's results.
#
# Usage (from the project root):
#   .venv/bin/python tests/reference/export_tables_data.py     # build/data/*.parquet -> tests/reference/tables_*.csv
#   Rscript tests/reference/tables.R
# Inputs  : tables_baseline_data.csv, tables_trial_data.csv, tables_biomarkers_cc.csv (written by the export script)
# Outputs : tables_ref_baseline.csv, tables_ref_categorical.csv, tables_ref_paired.csv, tables_ref_clinical.csv,
#           tables_ref_mixedlm.csv, tables_ref_assoc.csv, and (through tests/reference/rmanova.R case)
#           tables_ref_rm_raw.csv, tables_ref_rm_log.csv. Long format: keys..., statistic, value (17 digits).
#
# Definitions (where R has no single function, the formula is written here):
#   Levene: car::leveneTest(center = mean) (SPSS) and center = median (Brown-Forsythe).
#   ANOVA: stats::oneway.test(var.equal = TRUE); Kruskal-Wallis: stats::kruskal.test (tie-corrected).
#   Hedges' g (CP - HC): d = (m1 - m2) / s_pooled, g = d (1 - 3 / (4 (n1 + n2) - 9)); CI g +/- t(.975, n1+n2-2) SE,
#     SE = sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2))) (Hedges & Olkin 1985).
#   Paired t: stats::t.test(pre, post, paired = TRUE) (pair order pre - post, as SPSS); d_z = mean(post - pre) /
#     sd(post - pre); d_av = mean(post - pre) / ((sd(pre) + sd(post)) / 2) (Lakens 2013, eq. 10);
#     stats::p.adjust(bonferroni | holm, n = planned tests) within the family (biomarkers: 2 arms x 6 analytes;
#     clinical: 2 arms x the clinical scores, PAM-13 once as pam_mean); a test t.test cannot compute keeps its
#     place in the family (n) and is not written.
#   Welch's ANOVA: stats::oneway.test(var.equal = FALSE).
#   Clinical Time x Group: afex::aov_car(score ~ arm + Error(id / visit), type = 3), complete cases.
#   Mixed model per analyte (log pg/mL, all available observations): lme4::lmer(y ~ 0 + cell + (1 | id),
#     REML = TRUE), cell = arm x visit; contrasts of the cell means with vcov(fit); Wald z p; BH across analytes.
#   Correlations of change scores: cor.test (Pearson, CI by Fisher z); Spearman with exact = FALSE (t
#     approximation) and the same Fisher-z CI, computed by formula (cor.test gives none for Spearman).

suppressPackageStartupMessages({
  library(car)
  library(afex)
  library(lme4)
})
options(contrasts = c("contr.sum", "contr.poly"))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("--file=", "", args[grep("--file=", args)])
here <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
path <- function(f) file.path(here, f)
fmt <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
write_long <- function(df, file) {
  df$value <- fmt(df$value)
  write.csv(df, path(file), row.names = FALSE)
  cat("wrote", path(file), "\n")
}

ANALYTES <- c("oxytocin", "il1b", "il6", "il8", "tnfa", "dheas")
ID_COLS <- c("record_id", "cohort", "arm", "visit", "gender", "race", "ethnicity")

base <- read.csv(path("tables_baseline_data.csv"), stringsAsFactors = FALSE)
trial <- read.csv(path("tables_trial_data.csv"), stringsAsFactors = FALSE)
numeric_cols <- function(df) names(df)[sapply(df, is.numeric) & !(names(df) %in% ID_COLS)]

# ---- Table 1: CP vs HC ----------------------------------------------------------------------------------------
rows <- list()
add <- function(...) rows[[length(rows) + 1]] <<- data.frame(..., stringsAsFactors = FALSE)
for (dv in numeric_cols(base)) {
  d <- base[!is.na(base[[dv]]) & base$cohort %in% c("CP", "HC"), c("cohort", dv)]
  names(d) <- c("cohort", "y")
  d$cohort <- factor(d$cohort, levels = c("CP", "HC"))
  x <- d$y[d$cohort == "CP"]; y <- d$y[d$cohort == "HC"]
  n1 <- length(x); n2 <- length(y)
  lm_ <- car::leveneTest(y ~ cohort, data = d, center = mean)
  lmed <- car::leveneTest(y ~ cohort, data = d, center = median)
  ow <- oneway.test(y ~ cohort, data = d, var.equal = TRUE)
  wl <- oneway.test(y ~ cohort, data = d, var.equal = FALSE)
  kw <- kruskal.test(y ~ cohort, data = d)
  sp <- sqrt(((n1 - 1) * var(x) + (n2 - 1) * var(y)) / (n1 + n2 - 2))
  g <- (mean(x) - mean(y)) / sp * (1 - 3 / (4 * (n1 + n2) - 9))
  se <- sqrt((n1 + n2) / (n1 * n2) + g^2 / (2 * (n1 + n2)))
  crit <- qt(0.975, n1 + n2 - 2)
  st <- c(n_cp = n1, n_hc = n2, mean_cp = mean(x), mean_hc = mean(y), sd_cp = sd(x), sd_hc = sd(y),
          levene_mean_W = lm_[1, "F value"], levene_mean_df1 = lm_[1, "Df"], levene_mean_df2 = lm_[2, "Df"],
          levene_mean_p = lm_[1, "Pr(>F)"], levene_median_W = lmed[1, "F value"], levene_median_p = lmed[1, "Pr(>F)"],
          anova_F = unname(ow$statistic), anova_df1 = unname(ow$parameter[1]), anova_df2 = unname(ow$parameter[2]),
          anova_p = ow$p.value, kw_H = unname(kw$statistic), kw_df = unname(kw$parameter), kw_p = kw$p.value,
          welch_F = unname(wl$statistic), welch_df1 = unname(wl$parameter[1]),
          welch_df2 = unname(wl$parameter[2]), welch_p = wl$p.value,
          g = g, g_ci_low = g - crit * se, g_ci_high = g + crit * se)
  add(dv = dv, statistic = names(st), value = unname(st))
}
write_long(do.call(rbind, rows), "tables_ref_baseline.csv")

rows <- list()
for (v in intersect(c("gender", "race", "ethnicity"), names(base))) {
  d <- base[base$cohort %in% c("CP", "HC") & !is.na(base[[v]]) & base[[v]] != "", ]
  tab <- table(d[[v]], d$cohort)
  ct <- suppressWarnings(chisq.test(tab, correct = FALSE))
  add(var = v, statistic = c("chi2", "dof", "pval", "min_expected"),
      value = c(unname(ct$statistic), unname(ct$parameter), ct$p.value, min(ct$expected)))
}
write_long(do.call(rbind, rows), "tables_ref_categorical.csv")

# ---- Table 2: paired t-tests within arms ------------------------------------------------------------------------
trial_numeric <- numeric_cols(trial)
# PAM-13 enters the clinical family once: pam_raw is 13 x pam_mean (prorated), the same test
clinical <- setdiff(trial_numeric, c(ANALYTES, "pam_raw"))
paired_family <- function(dvs, family) {
  out <- list()
  planned <- 2 * length(dvs)  # the family is every planned test: one that cannot be computed keeps its place
  for (arm in c("MBPM", "WL")) for (dv in dvs) {
    d <- trial[trial$arm == arm, c("record_id", "visit", dv)]
    pre <- d[d$visit == "pre", ]; post <- d[d$visit == "post", ]
    m <- merge(pre, post, by = "record_id", suffixes = c("_pre", "_post"))
    m <- m[!is.na(m[[paste0(dv, "_pre")]]) & !is.na(m[[paste0(dv, "_post")]]), ]
    a <- m[[paste0(dv, "_pre")]]; b <- m[[paste0(dv, "_post")]]
    tt <- tryCatch(t.test(a, b, paired = TRUE), error = function(e) NULL)  # "data are essentially constant"
    if (length(a) < 2 || is.null(tt) || !is.finite(tt$statistic)) next
    out[[length(out) + 1]] <- data.frame(family = family, group = arm, dv = dv, n = length(a),
      mean_pre = mean(a), sd_pre = sd(a), mean_post = mean(b), sd_post = sd(b),
      T = unname(tt$statistic), dof = unname(tt$parameter), pval = tt$p.value,
      d_z = mean(b - a) / sd(b - a), d_av = mean(b - a) / ((sd(a) + sd(b)) / 2))
  }
  out <- do.call(rbind, out)
  out$p_bonferroni <- p.adjust(out$pval, "bonferroni", n = planned)
  out$p_holm <- p.adjust(out$pval, "holm", n = planned)
  out
}
pt <- rbind(paired_family(intersect(ANALYTES, trial_numeric), "biomarkers"), paired_family(clinical, "clinical"))
stat_cols <- setdiff(names(pt), c("family", "group", "dv"))
long <- do.call(rbind, lapply(stat_cols, function(s) data.frame(family = pt$family, group = pt$group, dv = pt$dv,
                                                                 statistic = s, value = pt[[s]])))
write_long(long, "tables_ref_paired.csv")

# ---- clinical scores: Time x Group mixed ANOVA (type III) ---------------------------------------------------------
rows <- list()
for (dv in clinical) {
  d <- trial[!is.na(trial[[dv]]), c("record_id", "arm", "visit", dv)]
  both <- names(which(table(d$record_id) == 2))
  d <- d[d$record_id %in% both, ]
  names(d)[4] <- "y"
  d$visit <- factor(d$visit, levels = c("pre", "post"))
  fit <- suppressMessages(afex::aov_car(y ~ arm + Error(record_id / visit), data = d, type = 3,
                                        anova_table = list(es = c("pes", "ges"), correction = "none")))
  at <- fit$anova_table
  for (eff in rownames(at)) {
    add(dv = dv, effect = eff, statistic = c("f", "df", "df_error", "p", "pes", "ges", "n"),
        value = c(at[eff, "F"], at[eff, "num Df"], at[eff, "den Df"], at[eff, "Pr(>F)"], at[eff, "pes"],
                  at[eff, "ges"], length(both)))
  }
}
write_long(do.call(rbind, rows), "tables_ref_clinical.csv")
rows <- list()

# ---- per-analyte linear mixed model (log scale, all available observations) ----------------------------------------
L <- rbind(change_a = c(-1, 1, 0, 0), change_b = c(0, 0, -1, 1), interaction = c(-1, 1, 1, -1),
           group = c(0.5, 0.5, -0.5, -0.5))
mm <- list()
for (a in intersect(ANALYTES, trial_numeric)) {
  d <- trial[!is.na(trial[[a]]), c("record_id", "arm", "visit", a)]
  d$y <- log(d[[a]])
  d$cell <- factor(paste(d$arm, d$visit), levels = c("MBPM pre", "MBPM post", "WL pre", "WL post"))
  fit <- lmer(y ~ 0 + cell + (1 | record_id), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  est <- drop(L %*% fixef(fit))
  se <- sqrt(diag(L %*% as.matrix(vcov(fit)) %*% t(L)))
  vc <- as.data.frame(VarCorr(fit))
  mm[[a]] <- data.frame(analyte = a, contrast = rownames(L), estimate = est, se = se, z = est / se,
                        pval = 2 * pnorm(-abs(est / se)), n_obs = nrow(d), n_subjects = length(unique(d$record_id)),
                        var_subject = vc$vcov[vc$grp == "record_id"], var_residual = vc$vcov[vc$grp == "Residual"])
}
mm <- do.call(rbind, mm)
mm$qval <- ave(mm$pval, mm$contrast, FUN = function(p) p.adjust(p, "BH"))
stat_cols <- c("estimate", "se", "z", "pval", "qval", "n_obs", "n_subjects", "var_subject", "var_residual")
long <- do.call(rbind, lapply(stat_cols, function(s) data.frame(analyte = mm$analyte, contrast = mm$contrast,
                                                                 statistic = s, value = mm[[s]])))
write_long(long, "tables_ref_mixedlm.csv")

# ---- change-change correlations (trial patients, both arms) -------------------------------------------------------
pre <- trial[trial$visit == "pre", ]; post <- trial[trial$visit == "post", ]
m <- merge(pre, post, by = "record_id", suffixes = c("_pre", "_post"))
ch <- function(v) m[[paste0(v, "_post")]] - m[[paste0(v, "_pre")]]
rows <- list()
for (yv in intersect(c("sfmpq_total", "bdi_total", "promis_pain_interference"), trial_numeric)) {
  x <- ch("oxytocin"); y <- ch(yv); ok <- !is.na(x) & !is.na(y); x <- x[ok]; y <- y[ok]; n <- length(x)
  pc <- cor.test(x, y, method = "pearson")
  sc <- suppressWarnings(cor.test(x, y, method = "spearman", exact = FALSE))
  rs <- unname(sc$estimate)
  half <- qnorm(0.975) / sqrt(n - 3)
  add(x = "oxytocin_change", y = paste0(yv, "_change"), method = "pearson", statistic = c("n", "r", "ci_low", "ci_high", "pval"),
      value = c(n, unname(pc$estimate), pc$conf.int[1], pc$conf.int[2], pc$p.value))
  add(x = "oxytocin_change", y = paste0(yv, "_change"), method = "spearman", statistic = c("n", "r", "ci_low", "ci_high", "pval"),
      value = c(n, rs, tanh(atanh(rs) - half), tanh(atanh(rs) + half), sc$p.value))
}
write_long(do.call(rbind, rows), "tables_ref_assoc.csv")

# ---- the 2 Time x 6 Biomarker x 2 Group mixed ANOVA, raw and log scale (complete cases) -------------------------
rm_script <- path("rmanova.R")
for (scale in c("value", "log_value")) {
  out <- path(if (scale == "value") "tables_ref_rm_raw.csv" else "tables_ref_rm_log.csv")
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(rm_script, "case", paste0("data=", path("tables_biomarkers_cc.csv")), paste0("dv=", scale),
                      "subject=record_id", "within=visit,analyte", "between=arm", paste0("out=", out)))
  if (status != 0) stop("rmanova.R case failed for ", scale)
  cat("wrote", out, "\n")
}
