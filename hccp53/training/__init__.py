"""Training support for the bundle: handlers, checkpoints, the ``hccp53 train`` runner.

The datalist checks live in :mod:`hccp53.data.datalist` (data handling; training depends on data, not the
other way); the three the bundle configs once reached here are still importable from this package.
"""

from hccp53.data.datalist import class_weights, classifier_cases, segmentation_cases

__all__ = ["class_weights", "classifier_cases", "segmentation_cases"]
