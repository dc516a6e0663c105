# Golden values from R's rms (Debian r-cran-rms) for tests/stats/test_calibration.py (val.prob) and
# tests/report/test_nomogram.py (nomogram points).
#   Rscript scripts/golden/rms_golden.R tests/stats/golden/rms_data.csv tests/stats/golden/rms_results.csv
# Input: y (0/1), x1, x2 (numbers), sex (M/F), p (a predicted probability). Output rows (17 digits):
#   what, name, x, value: val.prob statistics; lrm coefficients; the datadist display limits; the
#   nomogram points of each predictor value; the total-points axis; the total points of each probability tick.
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

dd <- datadist(d)
options(datadist = "dd")
fit <- lrm(y ~ x1 + x2 + sex, data = d)
co <- coef(fit)
for (k in seq_along(co)) add("coefficient", names(co)[k], "", co[[k]])
for (var in c("x1", "x2")) {
  add("limit", var, "low", dd$limits[["Low:prediction", var]])
  add("limit", var, "high", dd$limits[["High:prediction", var]])
}
nom <- nomogram(fit, fun = plogis, fun.at = c(0.1, 0.3, 0.5, 0.7, 0.9), funlabel = "Risk")
for (var in c("x1", "x2")) {
  for (k in seq_along(nom[[var]]$x)) add("points", var, fmt(nom[[var]]$x[k]), nom[[var]]$points[k])
}
for (k in seq_along(nom$sex$sex)) add("points", "sex", nom$sex$sex[k], nom$sex$points[k])
add("scale", "points_per_lp", "", attr(nom, "info")$sc)
for (k in seq_along(nom[["total.points"]]$x)) add("total_axis", "", "", nom[["total.points"]]$x[k])
risk <- nom[["Risk"]]
for (k in seq_along(risk$x)) add("risk_axis", "", fmt(risk$x[k]), risk$x.real[k])
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
