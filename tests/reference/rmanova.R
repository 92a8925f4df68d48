#!/usr/bin/env Rscript
# Reference output for helpers.stats.mixed_anova (tests/test_rmanova.py).
#
# Independent reference: R's car::Anova on a multivariate linear model (type III, contr.sum, idata/idesign) and
# car's summary(..., multivariate = TRUE), cross-checked against afex::aov_ez. Nothing here calls Python.
#
# Usage
#   Rscript tests/reference/rmanova.R all
#       regenerates the built-in cases (public obk.long data from afex, O'Brien & Kaiser 1985; a deterministic
#       synthetic 2 time x 6 biomarker x 2 group data set; a synthetic Time x Group clinical score) and writes, for
#       each case, the input CSV it read and the reference CSV beside it in tests/reference/.
#   Rscript tests/reference/rmanova.R case data=<in.csv> dv=<col> subject=<col> within=<a,b> [between=<g[,h]>] out=<out.csv>
#       one analysis of any long CSV (e.g. the shipped study data, once it exists). `between` may be omitted.
#
# Study data: tests/reference/rmanova_study_biomarkers_data.csv is a snapshot of the shipped study's trial
# biomarkers (analysed MBPM/WL patients, long: record_id, arm, visit, analyte, value in pg/mL after the
# detection-limit rule lod_rule = "half"), written from data/raw by the project's ingest code:
#   .venv/bin/python -c 'from helpers import ingest; r = ingest.load_raw("data/raw");
#     m = ingest.biomarkers(r.results, r.manifest, lod_rule="half"); f = ingest.flow_flags(r.roster, m);
#     a = f.loc[f["analysed"], ["record_id", "arm"]];
#     m[m.record_id.isin(a.record_id)].merge(a, on="record_id")[["record_id", "arm", "visit", "analyte", "value"]]
#     .to_csv("tests/reference/rmanova_study_biomarkers_data.csv", index=False)'
# then `Rscript tests/reference/rmanova.R all`. Subjects missing a cell are dropped here (complete cases, printed
# and counted as n_dropped), independently of the Python code.
#
# Output: a long CSV with columns table, effect, statistic, convention, value (17 significant digits):
#   table = univariate   : ss, df, ss_error, df_error, ms, ms_error, f, p, pes, ges, eps_gg, p_gg, eps_hf, p_hf,
#                          eps_lb (car columns; pes and ges also from afex's anova table)
#   table = multivariate : statistic names <test>_{value,f,df1,df2,p,pes} for test in pillai, wilks, hotelling, roy
#   table = sphericity   : w, chi2, df, p
#   table = design       : n_subjects, n_groups (rows with effect "(design)")
# convention = "car" for values car/afex report; "spss" for the SPSS definitions that R has no switch for, computed
# here by hand from car's quantities (documented below); "both" where the two agree by definition.
#
# SPSS definitions computed by hand (IBM SPSS Statistics GLM algorithms; Huynh & Feldt 1976):
#   Huynh-Feldt epsilon (original, N = subjects, g = between-subject cells, d = effect df, e = GG epsilon):
#       eps_HF = min(1, (N d e - 2) / (d (N - g - d e)))
#     car instead uses Lecoutre's (1991) correction, N replaced by N - g + 1, and does not cap the reported value.
#   Mauchly: chi2 = -(n - (2 d^2 + d + 2) / (6 d)) log W, n = N - g, df = d (d + 1) / 2 - 1, p = P(chi2_df > chi2)
#     car adds Anderson's second-order term w2 (with car's own use of the number of within cells in it).
#   Multivariate partial eta squared (s = min(d, q)): Pillai V / s; Wilks 1 - Lambda^(1/s);
#     Hotelling-Lawley (T / s) / (T / s + 1); Roy theta / (1 + theta).
#   Lower-bound epsilon: 1 / d.

suppressPackageStartupMessages({
  library(car)
  library(afex)
})
options(contrasts = c("contr.sum", "contr.poly"))

fmt <- function(x) trimws(formatC(x, digits = 17, format = "g"))

parse_args <- function(args) {
  kv <- strsplit(args, "=", fixed = TRUE)
  out <- list()
  for (x in kv) if (length(x) == 2) out[[x[1]]] <- x[2]
  out
}

split_names <- function(x) if (is.null(x) || x == "") character(0) else strsplit(x, ",", fixed = TRUE)[[1]]

# Multivariate statistics exactly as car:::print.linearHypothesis.mlm computes them (stats:::Pillai & co).
mv_tests <- function(SSPH, SSPE, q, df_res) {
  eigs <- Re(eigen(qr.coef(qr(SSPE), SSPH), symmetric = FALSE)$values)
  d <- length(eigs)
  s <- min(d, q)
  res <- list(
    pillai = stats:::Pillai(eigs, q, df_res),
    wilks = stats:::Wilks(eigs, q, df_res),
    hotelling = stats:::HL(eigs, q, df_res),
    roy = stats:::Roy(eigs, q, df_res)
  )
  pes <- c(
    pillai = res$pillai[1] / s,
    wilks = 1 - res$wilks[1]^(1 / s),
    hotelling = (res$hotelling[1] / s) / (res$hotelling[1] / s + 1),
    roy = res$roy[1] / (1 + res$roy[1])
  )
  rows <- list()
  for (nm in names(res)) {
    v <- res[[nm]]
    rows[[length(rows) + 1]] <- data.frame(
      statistic = paste0(nm, c("_value", "_f", "_df1", "_df2", "_p", "_pes")),
      convention = c("both", "both", "both", "both", "both", "spss"),
      value = c(v[1], v[2], v[3], v[4], pf(v[2], v[3], v[4], lower.tail = FALSE), pes[[nm]])
    )
  }
  do.call(rbind, rows)
}

run_case <- function(data, dv, subject, within, between, out) {
  data <- as.data.frame(data)
  data[[subject]] <- factor(data[[subject]])
  for (w in within) data[[w]] <- factor(data[[w]], levels = unique(as.character(data[[w]])))
  for (b in between) data[[b]] <- factor(data[[b]])

  # wide layout: one column per within cell, first within factor varying fastest (expand.grid order)
  idata <- expand.grid(lapply(within, function(w) levels(data[[w]])), KEEP.OUT.ATTRS = FALSE)
  names(idata) <- within
  for (w in within) idata[[w]] <- factor(idata[[w]], levels = levels(data[[w]]))
  cell_key <- function(df) do.call(paste, c(lapply(within, function(w) as.character(df[[w]])), sep = "|"))
  cells <- cell_key(idata)
  ids <- levels(data[[subject]])
  Y <- matrix(NA_real_, length(ids), length(cells), dimnames = list(ids, paste0("c", seq_along(cells))))
  Y[cbind(match(as.character(data[[subject]]), ids), match(cell_key(data), cells))] <- data[[dv]]
  # complete cases, explicitly: a subject with any missing cell (no row or NA value) is dropped and counted
  incomplete <- ids[apply(is.na(Y), 1, any)]
  if (length(incomplete)) {
    cat("complete cases: dropping", length(incomplete), "subject(s):", paste(incomplete, collapse = ", "), "\n")
    Y <- Y[!(ids %in% incomplete), , drop = FALSE]
    data <- data[!(as.character(data[[subject]]) %in% incomplete), ]
    data[[subject]] <- droplevels(data[[subject]])
    ids <- rownames(Y)
  }
  wide <- data.frame(row.names = ids)
  for (b in between) {
    wide[[b]] <- factor(tapply(as.character(data[[b]]), data[[subject]], function(x) x[1])[ids],
                        levels = levels(data[[b]]))
  }

  rhs <- if (length(between)) paste(between, collapse = " * ") else "1"
  fit <- lm(as.formula(paste("Y ~", rhs)), data = wide)
  idesign <- as.formula(paste("~", paste(within, collapse = " * ")))
  av <- car::Anova(fit, idata = idata, idesign = idesign, type = 3)
  sm <- summary(av, multivariate = TRUE)

  N <- nrow(Y)
  n_groups <- if (length(between)) nrow(unique(wide[, between, drop = FALSE])) else 1
  error_df <- av$error.df
  stopifnot(error_df == N - n_groups)

  rows <- list()
  add <- function(table, effect, statistic, convention, value) {
    rows[[length(rows) + 1]] <<- data.frame(table = table, effect = effect, statistic = statistic,
                                           convention = convention, value = value)
  }

  uni <- sm$univariate.tests
  adj <- sm$pval.adjustments
  sph <- sm$sphericity.tests

  # afex: same model, its anova table gives pes and ges (all factors treated as manipulated)
  afx <- afex::aov_ez(id = subject, dv = dv, data = data, between = if (length(between)) between else NULL,
                      within = within, type = 3, anova_table = list(es = c("pes", "ges"), correction = "none"))
  at <- afx$anova_table
  # car's term names and afex's agree ("treatment:phase"); afex omits the intercept
  for (term in rownames(uni)) {
    ss <- uni[term, "Sum Sq"]; df1 <- uni[term, "num Df"]; sse <- uni[term, "Error SS"]; df2 <- uni[term, "den Df"]
    add("univariate", term, c("ss", "df", "ss_error", "df_error", "ms", "ms_error", "f", "p"), "both",
        c(ss, df1, sse, df2, ss / df1, sse / df2, uni[term, "F value"], uni[term, "Pr(>F)"]))
    add("univariate", term, "pes", "both", ss / (ss + sse))
    if (term %in% rownames(at)) {
      stopifnot(isTRUE(all.equal(at[term, "F"], uni[term, "F value"], tolerance = 1e-10)))
      stopifnot(isTRUE(all.equal(at[term, "pes"], ss / (ss + sse), tolerance = 1e-10)))
      add("univariate", term, "ges", "both", at[term, "ges"])
    }
    # which within factors does the term contain? d = product of (levels - 1) over them
    facs <- strsplit(term, ":", fixed = TRUE)[[1]]
    wf <- intersect(facs, within)
    if (length(wf) == 0) next
    d <- prod(sapply(wf, function(w) nlevels(data[[w]]) - 1))
    add("univariate", term, "eps_lb", "both", 1 / d)
    if (d > 1) {
      gg <- adj[term, "GG eps"]
      add("univariate", term, c("eps_gg", "p_gg"), "both", c(gg, adj[term, "Pr(>F[GG])"]))
      add("univariate", term, c("eps_hf", "p_hf"), "car", c(adj[term, "HF eps"], adj[term, "Pr(>F[HF])"]))
      hf_spss <- min(1, (N * d * gg - 2) / (d * (N - n_groups - d * gg)))
      add("univariate", term, c("eps_hf", "p_hf"), "spss",
          c(hf_spss, pf(uni[term, "F value"], hf_spss * df1, hf_spss * df2, lower.tail = FALSE)))
    } else {
      # one-df within effects: sphericity holds trivially, car prints no correction
      add("univariate", term, c("eps_gg", "p_gg", "eps_hf", "p_hf"), "both", c(1, uni[term, "Pr(>F)"], 1, uni[term, "Pr(>F)"]))
    }
    if (term %in% rownames(sph)) {
      W <- sph[term, "Test statistic"]
      chi2 <- -(error_df - (2 * d^2 + d + 2) / (6 * d)) * log(W)
      dfc <- d * (d + 1) / 2 - 1
      add("sphericity", term, "w", "both", W)
      add("sphericity", term, "chi2", "both", chi2)
      add("sphericity", term, "df", "both", dfc)
      add("sphericity", term, "p", "car", sph[term, "p-value"])
      add("sphericity", term, "p", "spss", pchisq(chi2, dfc, lower.tail = FALSE))
    }
  }

  for (k in seq_along(av$terms)) {
    term <- av$terms[k]
    mv <- mv_tests(av$SSP[[k]], av$SSPE[[k]], av$df[k], av$error.df)
    add("multivariate", term, mv$statistic, mv$convention, mv$value)
  }
  add("design", "(design)", c("n_subjects", "n_groups", "n_dropped"), "both", c(N, n_groups, length(incomplete)))

  res <- do.call(rbind, rows)
  res$value <- fmt(res$value)
  write.csv(res, out, row.names = FALSE, quote = TRUE)
  cat("wrote", out, "(", nrow(res), "values )\n")
  invisible(res)
}

# ---- built-in cases ---------------------------------------------------------------------------------------
script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grepl("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
}

make_synthetic_biomarkers <- function() {
  # 2 time x 6 biomarker x 2 group, 14 vs 12 subjects, log-normal values on very different scales (pg/mL-like)
  RNGkind("Mersenne-Twister", "Inversion", "Rejection")
  set.seed(20240501)
  analytes <- c("oxytocin", "il1b", "il6", "il8", "tnfa", "dheas")
  log_mu <- log(c(oxytocin = 40, il1b = 60, il6 = 4, il8 = 250, tnfa = 2.5, dheas = 2500))
  sd_subj <- c(0.5, 0.8, 0.7, 0.6, 0.6, 0.5)
  groups <- c(rep("MBPM", 14), rep("WL", 12))
  out <- list()
  for (i in seq_along(groups)) {
    subj <- rnorm(6, 0, sd_subj)
    for (t in c("pre", "post")) {
      shift <- if (t == "post" && groups[i] == "MBPM") c(0.25, -0.15, -0.1, -0.1, -0.1, -0.05) else
        if (t == "post") c(-0.05, 0.3, 0.15, 0, 0.1, 0) else rep(0, 6)
      val <- exp(log_mu + subj + shift + rnorm(6, 0, 0.3))
      out[[length(out) + 1]] <- data.frame(record_id = sprintf("S%02d", i), group = groups[i], visit = t,
                                           analyte = analytes, value = signif(val, 6))
    }
  }
  do.call(rbind, out)
}

make_synthetic_clinical <- function() {
  # Time (pre, post) x Group (MBPM 15, WL 13): a BDI-like total score
  RNGkind("Mersenne-Twister", "Inversion", "Rejection")
  set.seed(20240502)
  groups <- c(rep("MBPM", 15), rep("WL", 13))
  pre <- round(rnorm(length(groups), 14, 7))
  post <- round(pre + ifelse(groups == "MBPM", -4, -0.5) + rnorm(length(groups), 0, 4))
  data.frame(record_id = rep(sprintf("P%02d", seq_along(groups)), 2), group = rep(groups, 2),
             visit = rep(c("pre", "post"), each = length(groups)), value = c(pre, post))
}

run_all <- function() {
  dir <- script_dir()
  data(obk.long, package = "afex")
  obk <- obk.long[, c("id", "treatment", "gender", "phase", "hour", "value")]
  # afex stores phase levels alphabetically (fup, post, pre); keep the design's order in the exported CSV
  obk$phase <- factor(obk$phase, levels = c("pre", "post", "fup"))
  obk <- obk[order(obk$id, obk$phase, obk$hour), ]
  write.csv(obk, file.path(dir, "rmanova_obk_long_data.csv"), row.names = FALSE)
  obk <- read.csv(file.path(dir, "rmanova_obk_long_data.csv"))
  run_case(obk, "value", "id", c("phase", "hour"), "treatment", file.path(dir, "rmanova_obk_long.csv"))
  run_case(obk, "value", "id", c("phase", "hour"), c("treatment", "gender"),
           file.path(dir, "rmanova_obk_long_2between.csv"))
  run_case(obk, "value", "id", c("phase", "hour"), character(0), file.path(dir, "rmanova_obk_long_within.csv"))
  obk_phase <- aggregate(value ~ id + treatment + phase, data = obk, FUN = mean)
  run_case(obk_phase, "value", "id", "phase", "treatment", file.path(dir, "rmanova_obk_long_phase.csv"))

  bio <- make_synthetic_biomarkers()
  write.csv(bio, file.path(dir, "rmanova_synthetic_biomarkers_data.csv"), row.names = FALSE)
  bio <- read.csv(file.path(dir, "rmanova_synthetic_biomarkers_data.csv"))
  run_case(bio, "value", "record_id", c("visit", "analyte"), "group", file.path(dir, "rmanova_synthetic_biomarkers.csv"))
  bio$value <- log(bio$value)
  run_case(bio, "value", "record_id", c("visit", "analyte"), "group",
           file.path(dir, "rmanova_synthetic_biomarkers_log.csv"))

  # study data (shipped synthetic study, analysed trial patients): a stored snapshot, see the header
  study <- file.path(dir, "rmanova_study_biomarkers_data.csv")
  if (file.exists(study)) {
    st <- read.csv(study)
    run_case(st, "value", "record_id", c("visit", "analyte"), "arm", file.path(dir, "rmanova_study_biomarkers.csv"))
    st$value <- log(st$value)
    run_case(st, "value", "record_id", c("visit", "analyte"), "arm", file.path(dir, "rmanova_study_biomarkers_log.csv"))
  }

  cli <- make_synthetic_clinical()
  write.csv(cli, file.path(dir, "rmanova_synthetic_clinical_data.csv"), row.names = FALSE)
  cli <- read.csv(file.path(dir, "rmanova_synthetic_clinical_data.csv"))
  run_case(cli, "value", "record_id", "visit", "group", file.path(dir, "rmanova_synthetic_clinical.csv"))
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0 || args[1] == "all") {
  run_all()
} else if (args[1] == "case") {
  a <- parse_args(args[-1])
  for (k in c("data", "dv", "subject", "within", "out")) if (is.null(a[[k]])) stop("missing argument ", k, "=")
  run_case(read.csv(a$data), a$dv, a$subject, split_names(a$within), split_names(a$between), a$out)
} else {
  stop("usage: rmanova.R all | case data=... dv=... subject=... within=a,b [between=g] out=...")
}
