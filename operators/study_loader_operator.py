"""StudyLoaderOperator: a DICOM study folder in, an :class:`hccp53.dicomio.Study` out (every instance kept)."""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import ConditionType, Fragment, Operator, OperatorSpec

from hccp53.deploy import load
from hccp53.settings import Settings
from operators.failures import reports_errors


class StudyLoaderOperator(Operator):
    """Loads one study, keeping instances that repeat a slice position (multi-phase series).

    The SDK's ``DICOMDataLoaderOperator`` drops such instances and so loses phases of a GE
    dynamic acquisition stored as one series; this operator does not.

    A series larger than the settings' ``max_voxels_per_series`` (rows x columns x slices) is refused before its
    pixels are read (:func:`hccp53.deploy.load`).

    Named inputs:
        input_folder: optional path overriding the folder given at construction.

    Named outputs:
        study: :class:`hccp53.dicomio.Study` (stacks, skipped files, rejected series).
    """

    INPUT_FOLDER = "input_folder"
    OUTPUT_STUDY = "study"

    def __init__(self, fragment: Fragment, *args, input_folder: Path, settings: Settings, **kwargs) -> None:
        self._logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.input_folder = Path(input_folder)
        self.settings = settings
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_FOLDER).condition(ConditionType.NONE)  # optional: no upstream emitter needed
        spec.output(self.OUTPUT_STUDY)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        folder = op_input.receive(self.INPUT_FOLDER) or self.input_folder
        op_output.emit(load(folder, self.settings), self.OUTPUT_STUDY)
