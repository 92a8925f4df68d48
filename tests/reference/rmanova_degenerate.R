#!/usr/bin/env Rscript
# What R does with degenerate input to a mixed repeated-measures ANOVA (tests/test_rmanova.py, "degenerate").
#
# Usage: Rscript tests/reference/rmanova_degenerate.R
#   writes tests/reference/rmanova_degenerate_data.csv (the cases' data, long: case, id, g, t, y) and
#   tests/reference/rmanova_degenerate.csv (what R reported).
#
# Each case is a tiny hand-written data set (id, g = between group, t = within level, y; h = a second between
# factor in case empty_between_cell only), analysed by
#   afex::aov_ez("id", "y", d, within = "t", between = "g", type = 3)   -> univariate F, p (uncorrected), ges
#   car::Anova(lm(Y ~ g), idata, idesign = ~t, type = 3) + summary(..., multivariate = TRUE)
#                                                                       -> univariate table, multivariate tests
# The output is long: case, source (afex / car_univariate / car_multivariate), effect, statistic, value; and a
# row with statistic "message" holding any error or warning text R gave (value = the text).

suppressPackageStartupMessages({
  library(car)
  library(afex)
})
options(contrasts = c("contr.sum", "contr.poly"))
fmt <- function(x) trimws(formatC(x, digits = 17, format = "g"))

mk <- function(vals, groups, times = c("a", "b")) {
  do.call(rbind, lapply(seq_along(vals), function(i) {
    data.frame(id = i, g = substr(groups, i, i), t = times, y = vals[[i]])
  }))
}

cases <- list(
  # every value equal
  constant = mk(rep(list(c(5, 5)), 6), "AAABBB"),
  # post - pre = 1 for every subject: no residual variation in the time contrast
  constant_change = mk(list(c(1, 2), c(3, 4), c(5, 6), c(2, 3), c(4, 5), c(7, 8)), "AAABBB"),
  # three times; b - a = 1 for everyone, c varies: error SSCP of t has rank 1 of 2
  rank_deficient = mk(list(c(1, 2, 4), c(3, 4, 4), c(5, 6, 9), c(2, 3, 3), c(4, 5, 8), c(7, 8, 8)), "AAABBB",
                      c("a", "b", "c")),
  # group A constant, group B varies: pooled error defined
  constant_in_one_group = mk(list(c(5, 5), c(5, 5), c(5, 5), c(1, 3), c(2, 2), c(4, 7)), "AAABBB"),
  # two subjects per group
  two_per_group = mk(list(c(1, 2), c(3, 5), c(2, 2), c(4, 7)), "AABB"),
  # one subject in A, two in B: 1 error df
  one_and_two = mk(list(c(1, 2), c(2, 2), c(4, 7)), "ABB"),
  # one subject per group: no error df
  one_per_group = mk(list(c(1, 2), c(4, 7)), "AB")
)

rows <- list()
add <- function(case, source, effect, statistic, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, source = source, effect = effect, statistic = statistic,
                                          value = value)
}
capture <- function(case, source, expr) {
  withCallingHandlers(
    tryCatch(expr, error = function(e) {
      add(case, source, "(all)", "message", paste("ERROR:", gsub("\n", " ", conditionMessage(e))))
      NULL
    }),
    warning = function(w) {
      add(case, source, "(all)", "message", paste("WARNING:", gsub("\n", " ", conditionMessage(w))))
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage")
  )
}

for (nm in names(cases)) {
  d <- cases[[nm]]
  d$g <- factor(d$g)
  a <- capture(nm, "afex", aov_ez("id", "y", d, within = "t", between = "g", type = 3,
                                  anova_table = list(correction = "none", es = "ges")))
  if (!is.null(a)) {
    tab <- a$anova_table
    for (e in rownames(tab)) {
      add(nm, "afex", e, "f", fmt(tab[e, "F"]))
      add(nm, "afex", e, "p", fmt(tab[e, "Pr(>F)"]))
      add(nm, "afex", e, "ges", fmt(tab[e, "ges"]))
    }
  }
  w <- reshape(d, idvar = c("id", "g"), timevar = "t", direction = "wide")
  Y <- as.matrix(w[, grep("^y\\.", names(w))])
  idata <- data.frame(t = factor(sub("y.", "", colnames(Y))))
  av <- capture(nm, "car_univariate", Anova(lm(Y ~ g, data = w), idata = idata, idesign = ~t, type = 3))
  if (!is.null(av)) {
    su <- capture(nm, "car_univariate", summary(av, multivariate = FALSE))
    if (!is.null(su)) {
      u <- su$univariate.tests
      for (e in rownames(u)) {
        add(nm, "car_univariate", e, "ss", fmt(u[e, "Sum Sq"]))
        add(nm, "car_univariate", e, "ss_error", fmt(u[e, "Error SS"]))
        add(nm, "car_univariate", e, "f", fmt(u[e, "F value"]))
        add(nm, "car_univariate", e, "p", fmt(u[e, "Pr(>F)"]))
      }
    }
    # car stops when printing the multivariate tests if any error SSP matrix is singular: record its message,
    # then the Pillai test of every term car does not flag as singular (av$singular)
    capture(nm, "car_multivariate", capture.output(print(av)))
    for (e in names(av$SSP)) {
      if (av$singular[[e]]) {
        add(nm, "car_multivariate", e, "singular", "TRUE")
        next
      }
      eig <- Re(eigen(qr.coef(qr(av$SSPE[[e]]), av$SSP[[e]]), symmetric = FALSE)$values)
      pil <- stats:::Pillai(eig, av$df[[e]], av$error.df)
      add(nm, "car_multivariate", e, "singular", "FALSE")
      add(nm, "car_multivariate", e, "pillai_value", fmt(pil[1]))
      add(nm, "car_multivariate", e, "pillai_f", fmt(pil[2]))
      add(nm, "car_multivariate", e, "pillai_p", fmt(pf(pil[2], pil[3], pil[4], lower.tail = FALSE)))
    }
  }
}
# two between factors g x h with the cell g = B, h = y empty
empty_cell <- data.frame(id = rep(1:6, each = 2), g = rep(c("A", "A", "A", "A", "B", "B"), each = 2),
                         h = rep(c("x", "x", "y", "y", "x", "x"), each = 2), t = rep(c("a", "b"), 6),
                         y = c(1, 2, 3, 5, 2, 2, 4, 7, 3, 3, 5, 8))
invisible(capture("empty_between_cell", "afex",
                  aov_ez("id", "y", empty_cell, within = "t", between = c("g", "h"), type = 3)))

data_out <- rbind(
  do.call(rbind, lapply(names(cases), function(nm) cbind(case = nm, cases[[nm]], h = NA))),
  cbind(case = "empty_between_cell", empty_cell)
)
out <- do.call(rbind, rows)
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
write.csv(out, file.path(here, "rmanova_degenerate.csv"), row.names = FALSE)
write.csv(data_out, file.path(here, "rmanova_degenerate_data.csv"), row.names = FALSE)
