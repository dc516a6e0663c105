"""ResultWriterOperator: study, phases and prediction in; DICOM SEG, DICOM SR and result.json out (files)."""

from __future__ import annotations

import time
from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import Predictor, algorithm_info, dicom_outputs, result_document, summary, write_result
from operators.failures import reports_errors


class ResultWriterOperator(Operator):
    """Builds the SEG (highdicom), the TID 1500 SR and the summary PDF (the SDK's encapsulated-PDF writer), and
    writes them with result.json into the output folder.

    Everything is written in a staging folder and moved into place at the end (nothing half-written).

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.
        phases: :class:`hccp53.phases.identify.PhaseResult`.
        prediction: :class:`hccp53.deploy.StudyPrediction`.

    Named outputs:
        none: the files in ``output_folder``; the result dict is also kept on the app (``app.result``).
    """

    INPUT_STUDY = "study"
    INPUT_PHASES = "phases"
    INPUT_PREDICTION = "prediction"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, output_folder: Path, **kwargs) -> None:
        self.predictor = predictor
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.input(self.INPUT_PHASES)
        spec.input(self.INPUT_PREDICTION)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        found = op_input.receive(self.INPUT_PHASES)
        prediction = op_input.receive(self.INPUT_PREDICTION)
        predictor, settings = self.predictor, self.predictor.settings
        device = str(predictor.device)
        start = time.perf_counter()
        seg, sr = dicom_outputs(study, found, prediction, settings,
                                algorithm_info(settings, device, predictor.checksums))  # fmt: skip
        timings = {**getattr(self.fragment, "timings", {}), **prediction.timings,
                   "dicom_output_s": time.perf_counter() - start}  # fmt: skip
        result = result_document(study, found, prediction, settings, device, predictor.checksums, timings,
                                 seg is not None)  # fmt: skip
        write_result(self.output_folder, seg, sr, result, summary(study, found, prediction, settings, result))
        self.fragment.result = result
