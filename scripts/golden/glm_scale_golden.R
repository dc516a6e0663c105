# Golden values of hccp53.clinical.stepwise.fit_logistic on factors in awkward units, from R's glm (IRLS), for
# tests/clinical/test_stepwise.py:
#   Rscript scripts/golden/glm_scale_golden.R tests/clinical/golden/clinical_data.csv tests/clinical/golden/glm_scale_results.csv
# Two models on the clinical data of stepaic_golden.R: "raw_afp", AFP in ng/ml (10^log10_afp, up to 1.8e5) with
# age, sex, hbv and cirrhosis; "weak_score", a score spread over 1e-4 (a briefly trained network's probability,
# 0.53 + 1e-6 x tumor size) with AFP in ng/ml. For each coefficient: estimate, Wald standard error, p-value, and
# the Wald 95% CI of the odds ratio (exp(confint.default)), 17 significant digits. glm's convergence tolerance
# is tightened to 1e-14: its standard errors come from the weights of the last-but-one IRLS iteration, which at the
# default 1e-8 differ from those at the optimum by up to 3e-4 (relative) on these data.
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$sex <- factor(d$sex)
d$afp_ng_ml <- 10^d$log10_afp
d$weak_score <- 0.53 + 1e-6 * d$tumor_size
tight <- glm.control(epsilon = 1e-14, maxit = 100)
fits <- list(raw_afp = glm(y ~ age + sex + afp_ng_ml + hbv + cirrhosis, family = binomial, data = d, control = tight),
             weak_score = glm(y ~ weak_score + afp_ng_ml, family = binomial, data = d, control = tight))
fmt <- function(v) sprintf("%.17g", v)
out <- NULL
for (model in names(fits)) {
  fit <- fits[[model]]
  table <- summary(fit)$coefficients
  ci <- exp(confint.default(fit))
  out <- rbind(out, data.frame(model = model, name = rownames(table), estimate = fmt(table[, 1]),
                               se = fmt(table[, 2]), p = fmt(table[, 4]), or_low = fmt(ci[, 1]),
                               or_high = fmt(ci[, 2]), aic = fmt(AIC(fit))))
}
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
