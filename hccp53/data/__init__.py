"""Datasets: datalists and splits (the staged output folders are :mod:`hccp53.staging`)."""
