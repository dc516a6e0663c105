# Golden values of hccp53.stats.roc from R's pROC (Debian r-cran-proc 1.18), for tests/stats/test_roc.py.
#   Rscript scripts/golden/proc_golden.R tests/stats/golden/roc_data.csv tests/stats/golden/proc_results.csv
# Input: dataset, y (0/1), score_a, score_b, score_c. Output, one row per value (17 significant digits):
#   dataset, what (auc | var | ci_lower | ci_upper | youden | z | p | p_holm), first, second (score names;
#   second is empty for single-model values). Every curve is roc(y, s, levels = c(0, 1), direction = "<"); var
#   and ci.auc use DeLong; youden is the highest of coords(best.method = "youden")'s thresholds (Inf when no
#   cut beats calling no one positive); z and p are roc.test(method = "delong", paired = TRUE), p_holm is
#   p.adjust("holm") over the dataset's three pairs. The "degenerate" dataset (a perfect score, a constant
#   one) makes pROC warn that AUC == 1 gives a 1-1 interval and zero variance: expected.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1], colClasses = c("character", "integer", "numeric", "numeric", "numeric"))
scores <- c("score_a", "score_b", "score_c")
out <- data.frame(dataset = character(), what = character(), first = character(), second = character(),
                  value = character(), stringsAsFactors = FALSE)
add <- function(dataset, what, first, second, value) {
  out[nrow(out) + 1, ] <<- list(dataset, what, first, second, sprintf("%.17g", value))
}
for (name in unique(data$dataset)) {
  d <- data[data$dataset == name, ]
  curves <- lapply(scores, function(s) roc(d$y, d[[s]], levels = c(0, 1), direction = "<", quiet = TRUE))
  names(curves) <- scores
  for (s in scores) {
    ci <- ci.auc(curves[[s]], method = "delong", conf.level = 0.95)
    add(name, "auc", s, "", as.numeric(auc(curves[[s]])))
    add(name, "var", s, "", var(curves[[s]], method = "delong"))
    add(name, "ci_lower", s, "", ci[1])
    add(name, "ci_upper", s, "", ci[3])
    best <- coords(curves[[s]], "best", best.method = "youden", ret = "threshold", transpose = FALSE)
    add(name, "youden", s, "", max(best$threshold))
  }
  p <- c()
  pairs <- combn(scores, 2)
  for (k in seq_len(ncol(pairs))) {
    test <- roc.test(curves[[pairs[1, k]]], curves[[pairs[2, k]]], method = "delong", paired = TRUE)
    add(name, "z", pairs[1, k], pairs[2, k], as.numeric(test$statistic))
    add(name, "p", pairs[1, k], pairs[2, k], test$p.value)
    p <- c(p, test$p.value)
  }
  adjusted <- p.adjust(p, method = "holm")
  for (k in seq_len(ncol(pairs))) add(name, "p_holm", pairs[1, k], pairs[2, k], adjusted[k])
}
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
