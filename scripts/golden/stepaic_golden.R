# Golden values of hccp53.clinical.stepwise from R's MASS::stepAIC, for tests/clinical/test_stepwise.py.
#   Rscript scripts/golden/stepaic_golden.R tests/clinical/golden/clinical_data.csv tests/clinical/golden/stepaic_results.csv
# Three selections over the eight candidates (scope lower ~1, upper ~ all): "both" from the null model,
# "both_start" (direction "both") from y ~ age + sex + hbv, and "backward" from the full model. For each:
# the steps (fit$anova: "+ term" / "- term" and the AIC after it), the selected terms (alphabetical), the
# AIC and the coefficients, 17 significant digits.
suppressPackageStartupMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$sex <- factor(d$sex)
d$child_pugh <- factor(d$child_pugh)
candidates <- c("age", "sex", "log10_afp", "hbv", "cirrhosis", "albi", "child_pugh", "tumor_size")
upper <- as.formula(paste("~", paste(candidates, collapse = " + ")))
fmt <- function(v) sprintf("%.17g", v)
out <- data.frame(scenario = character(), what = character(), name = character(), value = character(),
                  stringsAsFactors = FALSE)
add <- function(scenario, what, name, value) out[nrow(out) + 1, ] <<- list(scenario, what, name, value)
starts <- list(both = glm(y ~ 1, family = binomial, data = d),
               both_start = glm(y ~ age + sex + hbv, family = binomial, data = d),
               backward = glm(update(upper, y ~ .), family = binomial, data = d))
for (scenario in names(starts)) {
  fit <- stepAIC(starts[[scenario]], scope = list(lower = ~1, upper = upper), direction = sub("_start", "", scenario),
                 trace = 0)
  steps <- fit$anova
  for (k in seq_len(nrow(steps))) {
    add(scenario, "step", if (k == 1) "start" else trimws(as.character(steps$Step[k])), fmt(steps$AIC[k]))
  }
  add(scenario, "aic", "", fmt(AIC(fit)))
  for (term in sort(attr(terms(fit), "term.labels"))) add(scenario, "term", term, "")
  co <- coef(fit)
  for (k in seq_along(co)) add(scenario, "coefficient", names(co)[k], fmt(co[[k]]))
}
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
