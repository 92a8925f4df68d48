#!/usr/bin/env Rscript
# What R does with degenerate input to the robustness analyses (tests/test_robustness.py, "degenerate").
#
# Usage: Rscript tests/reference/robustness_degenerate.R
#   writes tests/reference/robustness_degenerate_data.csv (long: case, record_id, arm, visit, value, x, y) and
#   tests/reference/robustness_degenerate.csv (case, call, statistic, value; statistic "message" holds any error,
#   warning or message text R gave).
#
# Linear mixed model cases: lme4::lmer(value ~ 0 + cell + (1 | record_id), REML = TRUE), cell = arm x visit, the
# model of helpers.stats.robustness.mixedlm_time_group. Correlation cases: cor.test(x, y, method = m).

suppressPackageStartupMessages(library(lme4))
fmt <- function(x) trimws(formatC(x, digits = 17, format = "g"))

two_visits <- function(value, n = 8) {
  data.frame(record_id = rep(sprintf("P%02d", 1:n), each = 2), arm = rep(c("MBPM", "WL"), each = n),
             visit = rep(c("pre", "post"), n), value = value)
}
u <- c(-1.2, 0.4, 0.9, -0.3, 1.5, -0.8, 0.2, 1.1)  # subject effects, written out (no RNG)
e <- c(0.31, -0.12, 0.05, 0.44, -0.27, 0.18, -0.36, 0.09, 0.22, -0.41, 0.13, -0.06, 0.38, -0.19, 0.02, 0.27)
lmm <- list(
  # every value equal
  lmm_constant = two_visits(rep(5, 16)),
  # each subject's two values equal: no within-subject variation
  lmm_no_within = two_visits(rep(u, each = 2)),
  # each subject's change equals the fixed effect (+1 post in MBPM): no within-subject variation beyond the cells
  lmm_no_within_beyond_cells = two_visits(rep(u, each = 2) + c(rep(c(0, 1), 4), rep(0, 8))),
  # every subject seen once (16 subjects)
  lmm_one_obs_per_subject = transform(two_visits(u[rep(1:8, each = 2)] + e), record_id = sprintf("Q%02d", 1:16)),
  # nobody in the WL arm came back: cell WL-post empty
  lmm_empty_cell = two_visits(rep(u, each = 2) + e)[-c(10, 12, 14, 16), ],
  # a well-defined case for contrast: two visits, subject effects plus noise
  lmm_ok = two_visits(rep(u, each = 2) + e + c(rep(c(0, 1), 4), rep(0, 8)))
)
cors <- list(
  cor_constant = data.frame(x = c(1, 2, 3, 4, 5), y = c(2, 2, 2, 2, 2)),
  # "constant" up to rounding: post - pre of 0.1 steps (0.3 - 0.2, 0.4 - 0.3, ...)
  cor_rounding_constant = data.frame(x = c(1, 2, 3, 4, 5), y = c(0.3, 0.4, 0.5, 0.6, 0.7) - c(0.2, 0.3, 0.4, 0.5, 0.6)),
  cor_two_pairs = data.frame(x = c(1, 2), y = c(2, 3)),
  cor_three_pairs = data.frame(x = c(1, 2, 3), y = c(2, 3, 1)),
  cor_perfect = data.frame(x = c(1, 2, 3, 4), y = c(2, 4, 6, 8))
)

rows <- list()
add <- function(case, call, statistic, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, call = call, statistic = statistic, value = value)
}
capture <- function(case, call, expr) {
  withCallingHandlers(
    tryCatch(expr, error = function(e) {
      add(case, call, "message", paste("ERROR:", gsub("\n", " ", conditionMessage(e))))
      NULL
    }),
    warning = function(w) {
      add(case, call, "message", paste("WARNING:", gsub("\n", " ", conditionMessage(w))))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      add(case, call, "message", paste("MESSAGE:", gsub("\n", " ", trimws(conditionMessage(m)))))
      invokeRestart("muffleMessage")
    }
  )
}

for (nm in names(lmm)) {
  d <- lmm[[nm]]
  d$cell <- factor(paste(d$arm, d$visit, sep = "_"))
  m <- capture(nm, "lmer", lmer(value ~ 0 + cell + (1 | record_id), data = d, REML = TRUE))
  if (!is.null(m)) {
    vc <- as.data.frame(VarCorr(m))
    add(nm, "lmer", "var_subject", fmt(vc$vcov[vc$grp == "record_id"]))
    add(nm, "lmer", "var_residual", fmt(vc$vcov[vc$grp == "Residual"]))
    add(nm, "lmer", "reml_criterion", fmt(REMLcrit(m)))
    for (k in names(fixef(m))) add(nm, "lmer", k, fmt(fixef(m)[[k]]))
  }
}
for (nm in names(cors)) {
  d <- cors[[nm]]
  for (meth in c("pearson", "spearman")) {
    call <- paste0("cor.test_", meth)
    ct <- capture(nm, call, cor.test(d$x, d$y, method = meth, exact = FALSE))
    if (!is.null(ct)) {
      add(nm, call, "r", fmt(unname(ct$estimate)))
      add(nm, call, "p", fmt(ct$p.value))
      add(nm, call, "ci_low", if (is.null(ct$conf.int)) "none" else fmt(ct$conf.int[1]))
      add(nm, call, "ci_high", if (is.null(ct$conf.int)) "none" else fmt(ct$conf.int[2]))
    }
  }
}

data_out <- rbind(
  do.call(rbind, lapply(names(lmm), function(nm) cbind(case = nm, lmm[[nm]], x = NA, y = NA))),
  do.call(rbind, lapply(names(cors), function(nm) {
    cbind(case = nm, record_id = NA, arm = NA, visit = NA, value = NA, cors[[nm]])
  }))
)
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
write.csv(do.call(rbind, rows), file.path(here, "robustness_degenerate.csv"), row.names = FALSE)
write.csv(data_out, file.path(here, "robustness_degenerate_data.csv"), row.names = FALSE)
