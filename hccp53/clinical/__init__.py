"""The clinical model: logistic regression of clinical factors chosen by stepwise AIC."""
