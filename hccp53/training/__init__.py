"""Training support for the bundle: datalist checks, handlers, the ``hccp53 train`` runner."""

from hccp53.training.datalist import class_weights, classifier_cases, segmentation_cases

__all__ = ["class_weights", "classifier_cases", "segmentation_cases"]
