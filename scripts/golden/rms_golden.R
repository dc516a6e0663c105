# Golden values from R's rms (r-cran-rms 6.5) for tests/stats/test_calibration.py (val.prob, lowess,
# Hosmer-Lemeshow, quantile bins) and tests/report/test_nomogram.py (nomogram scales).
#   Rscript scripts/golden/rms_golden.R tests/stats/golden/rms_data.csv tests/stats/golden/rms_results.csv
# Input: y (0/1), x1, x2 (numbers), sex (M/F), p (a predicted probability), hbv (0/1).
# Output rows what, name, x, value (17 significant digits):
#   val.prob       Intercept, Slope, Brier, C (ROC) of val.prob(p, y)
#   lowess         x = p, value = smoothed y of lowess(p, y, iter = 0) (val.prob's "Smoothed" curve)
#   quantile_bin   per group of cut(p, quantile(p, 0:10/10), include.lowest = TRUE): count, events, mean_p
#   hosmer_lemeshow chi2, df, p over those 10 groups (ResourceSelection::hoslem.test's formula)
#   coefficient    lrm(y ~ x1 + x2 + sex + hbv) coefficients
#   limit          datadist's Low / High (the full range, what nomogram's axes use) of x1, x2
#   points         nomogram(fit, fun = plogis, fun.at = 0.1..0.9): x = axis value, value = points
#   scale          points per unit of linear predictor (attr(nom, "info")$sc) and the intercept of 0 points
#   total_axis     the Total Points ticks; lp_axis: x = linear predictor tick, value = its total points
#   risk_axis      x = total points of each fun.at probability, value = the probability
suppressPackageStartupMessages(library(rms))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$sex <- factor(d$sex)
fmt <- function(v) sprintf("%.17g", v)
out <- data.frame(what = character(), name = character(), x = character(), value = character(),
                  stringsAsFactors = FALSE)
add <- function(what, name, x, value) out[nrow(out) + 1, ] <<- list(what, name, x, fmt(value))

v <- val.prob(d$p, d$y, pl = FALSE)
for (s in c("Intercept", "Slope", "Brier", "C (ROC)")) add("val.prob", s, "", v[[s]])
sm <- lowess(d$p, d$y, iter = 0)
for (k in seq_along(sm$x)) add("lowess", "", fmt(sm$x[k]), sm$y[k])

groups <- cut(d$p, breaks = quantile(d$p, probs = seq(0, 1, 0.1)), include.lowest = TRUE)
for (g in seq_along(levels(groups))) {
  member <- as.integer(groups) == g
  add("quantile_bin", "count", g, sum(member))
  add("quantile_bin", "events", g, sum(d$y[member]))
  add("quantile_bin", "mean_p", g, mean(d$p[member]))
}
observed <- xtabs(cbind(1 - d$y, d$y) ~ groups)
expected <- xtabs(cbind(1 - d$p, d$p) ~ groups)
chisq <- sum((observed - expected)^2 / expected)
add("hosmer_lemeshow", "chi2", "", chisq)
add("hosmer_lemeshow", "df", "", 10 - 2)
add("hosmer_lemeshow", "p", "", pchisq(chisq, 10 - 2, lower.tail = FALSE))

dd <- datadist(d)
options(datadist = "dd")
fit <- lrm(y ~ x1 + x2 + sex + hbv, data = d)
co <- coef(fit)
for (k in seq_along(co)) add("coefficient", names(co)[k], "", co[[k]])
for (var in c("x1", "x2")) {
  add("limit", var, "low", dd$limits[["Low", var]])
  add("limit", var, "high", dd$limits[["High", var]])
}
nom <- nomogram(fit, fun = plogis, fun.at = c(0.1, 0.3, 0.5, 0.7, 0.9), funlabel = "Risk")
for (var in c("x1", "x2", "sex", "hbv")) {
  values <- nom[[var]][[var]]  # the axis values: numbers, or the levels of a factor
  for (k in seq_along(values)) {
    add("points", var, if (is.numeric(values)) fmt(values[k]) else values[k], nom[[var]]$points[k])
  }
}
info <- attr(nom, "info")
add("scale", "points_per_lp", "", info$sc)
add("scale", "lp_at_zero", "", info$Intercept)
for (k in seq_along(nom[["total.points"]]$x)) add("total_axis", "", "", nom[["total.points"]]$x[k])
for (k in seq_along(nom$lp$x)) add("lp_axis", "", fmt(nom$lp$x.real[k]), nom$lp$x[k])
risk <- nom[["Risk"]]
for (k in seq_along(risk$x)) add("risk_axis", "", fmt(risk$x[k]), risk$x.real[k])
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
