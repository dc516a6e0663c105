# Golden values of hccp53.radiomics.stability.icc, from base R's two-way analysis of variance, for
# tests/radiomics/test_stability.py:
#   Rscript scripts/golden/icc_golden.R tests/radiomics/golden/icc_data.csv tests/radiomics/golden/icc_results.csv
# The data (long format: feature, case, rater, value) hold Shrout & Fleiss' (1979) Table 2 (6 targets, 4 judges;
# their ICC(2,1) 0.29, ICC(3,1) 0.71) and six seeded features of 40 cases measured in an original, an eroded and a
# dilated mask: stable, shifted between masks, moderately and badly unstable, on a scale of 1e4 and of 1e-6.
# Neither irr nor psych is installed here, so the ICCs come from the mean squares of
# aov(value ~ case + rater) (cases and raters as factors, no interaction: one measurement per cell):
#   ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)
#   ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE)
# (Shrout & Fleiss 1979; McGraw & Wong 1996: two-way random / mixed effects, absolute agreement / consistency,
# single measurement), 17 significant digits.
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
fmt <- function(v) sprintf("%.17g", v)
out <- NULL
for (name in unique(d$feature)) {
  f <- d[d$feature == name, ]
  f$case <- factor(f$case)
  f$rater <- factor(f$rater)
  n <- nlevels(f$case)
  k <- nlevels(f$rater)
  table <- summary(aov(value ~ case + rater, data = f))[[1]]
  ms <- setNames(table[["Mean Sq"]], trimws(rownames(table)))
  msr <- ms[["case"]]
  msc <- ms[["rater"]]
  mse <- ms[["Residuals"]]
  icc21 <- (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
  icc31 <- (msr - mse) / (msr + (k - 1) * mse)
  out <- rbind(out, data.frame(feature = name, n = n, k = k, msr = fmt(msr), msc = fmt(msc), mse = fmt(mse),
                               icc21 = fmt(icc21), icc31 = fmt(icc31)))
}
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
