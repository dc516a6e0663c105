"""DICOM input: load a study keeping every instance, split multi-phase series, build volumes."""

from hccp53.dicomio.loader import load_study
from hccp53.dicomio.stack import ImageStack, Instance, Study

__all__ = ["ImageStack", "Instance", "Study", "load_study"]
