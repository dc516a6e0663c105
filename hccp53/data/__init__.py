"""Datasets: datalists, splits, and the staged output folders that stages hand over."""
