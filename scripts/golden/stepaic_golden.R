# Golden values of hccp53.clinical.stepwise from R's MASS::stepAIC, for tests/clinical/test_stepwise.py.
#   Rscript scripts/golden/stepaic_golden.R tests/clinical/golden/clinical_data.csv tests/clinical/golden/stepaic_results.csv
# Bidirectional selection from the null model over every candidate; writes the selected terms (in order
# of entry is not reported by R: alphabetical), the AIC and the coefficients, 17 significant digits.
suppressPackageStartupMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$sex <- factor(d$sex)
d$child_pugh <- factor(d$child_pugh)
candidates <- c("age", "sex", "log10_afp", "hbv", "cirrhosis", "albi", "child_pugh", "tumor_size")
upper <- as.formula(paste("~", paste(candidates, collapse = " + ")))
null <- glm(y ~ 1, family = binomial, data = d)
fit <- stepAIC(null, scope = list(lower = ~1, upper = upper), direction = "both", trace = 0)
out <- data.frame(what = "aic", name = "", value = sprintf("%.17g", AIC(fit)), stringsAsFactors = FALSE)
for (term in sort(attr(terms(fit), "term.labels"))) out[nrow(out) + 1, ] <- list("term", term, "")
co <- coef(fit)
for (k in seq_along(co)) out[nrow(out) + 1, ] <- list("coefficient", names(co)[k], sprintf("%.17g", co[[k]]))
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
