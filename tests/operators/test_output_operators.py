"""The DICOM SEG, DICOM SR and result writer operators in a real Holoscan pipeline: everything written at
once, or nothing when an operator before the writer fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccp53.deploy import KEY_SLICE_SR_FILE, PDF_FILE, RESULT_FILE, SEG_FILE, SR_FILE
from hccp53.dicomio import load_study
from hccp53.dicomio.sr import read_result
from hccp53.dicomio.volume import stack_to_image
from hccp53.errors import InputError
from hccp53.inference import Lesion
from hccp53.phases import identify_phases
from hccp53.predictor import StudyPrediction, algorithm_info
from hccp53.settings import read_settings

ROOT = Path(__file__).resolve().parents[2]
CHECKSUMS = {"tumor_segmentation.pt": "a" * 64, "p53_classifier.pt": "b" * 64}
#: What the output operators read of a model's record (a stand-in: these operators run no network).
RECORD = SimpleNamespace(phases=("t2", "ap", "pvp"), reference_phase="pvp", threshold=0.5, uid="2.25.1",
                         sha256=CHECKSUMS, min_lesion_confidence=0.0)


@pytest.fixture(scope="module")
def inputs(cohort: Path) -> tuple:
    settings = read_settings()
    study = load_study(cohort / "cases" / "SYN0002" / "dicom")
    found = identify_phases(study, require=RECORD.phases)
    reference = stack_to_image(study, found.phases[RECORD.reference_phase].stack)
    array = np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8)
    z, y, x = np.array(array.shape) // 2
    array[z - 2 : z + 2, y - 8 : y + 8, x - 8 : x + 8] = 1
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(reference)
    lesion = Lesion(1, int(array.sum()), 4.2, 21.5, (1.0, 2.0, 3.0), 0.7)
    prediction = StudyPrediction([lesion], labels, 0.7, "mutated", RECORD.threshold, reference)
    return settings, study, found, prediction


def run_outputs(settings, study, found, prediction, out: Path):
    """Source (study, phases, prediction) -> DICOM SEG -> DICOM SR -> result writer, wired as app.py does."""
    sys.path.insert(0, str(ROOT))
    from holoscan.conditions import CountCondition
    from monai.deploy.core import Application, Operator, OperatorSpec

    from operators.dicom_seg_operator import DicomSegOperator
    from operators.dicom_sr_operator import DicomSrOperator
    from operators.result_writer_operator import ResultWriterOperator

    predictor = SimpleNamespace(settings=settings, device="cpu", record=RECORD, phases=RECORD.phases,
                                reference_phase=RECORD.reference_phase,
                                algorithm=algorithm_info(RECORD, "cpu"))  # what the operators read

    class Source(Operator):
        def setup(self, spec: OperatorSpec) -> None:
            for port in ("study", "phases", "prediction"):
                spec.output(port)

        def compute(self, op_input, op_output, context) -> None:
            op_output.emit(study, "study")
            op_output.emit(found, "phases")
            op_output.emit(prediction, "prediction")

    class OutputsApp(Application):
        def __init__(self, *args, **kwargs) -> None:
            self.errors: list = []
            self.timings: dict[str, float] = {}
            self.result: dict | None = None
            super().__init__(*args, **kwargs)

        def compose(self) -> None:
            source = Source(self, CountCondition(self, 1), name="source")
            seg = DicomSegOperator(self, predictor=predictor, name="dicom_seg")
            sr = DicomSrOperator(self, predictor=predictor, name="dicom_sr")
            writer = ResultWriterOperator(self, predictor=predictor, output_folder=out, name="result_writer")
            for output in (seg, sr, writer):
                self.add_flow(source, output, {("study", output.INPUT_STUDY), ("phases", output.INPUT_PHASES),
                                               ("prediction", output.INPUT_PREDICTION)})  # fmt: skip
            self.add_flow(seg, sr, {(seg.OUTPUT_SEG, sr.INPUT_SEG)})
            self.add_flow(seg, writer, {(seg.OUTPUT_SEG, writer.INPUT_SEG)})
            self.add_flow(sr, writer, {(sr.OUTPUT_SR, writer.INPUT_SR)})

    app = OutputsApp()
    app.run()
    return app


def test_the_writer_writes_what_the_seg_and_sr_operators_built(inputs: tuple, tmp_path: Path) -> None:
    out = tmp_path / "out"
    app = run_outputs(*inputs, out)
    assert app.errors == []
    assert sorted(p.name for p in out.iterdir()) == sorted([SEG_FILE, SR_FILE, KEY_SLICE_SR_FILE, PDF_FILE,
                                                            RESULT_FILE])
    seg = pydicom.dcmread(out / SEG_FILE, stop_before_pixels=True)
    back = read_result(pydicom.dcmread(out / SR_FILE))
    assert [lesion["referenced_seg_uid"] for lesion in back["lesions"]] == [seg.SOPInstanceUID]
    assert back["p53_probability"] == pytest.approx(0.7) and back["p53_status"] == "mutated"
    document = json.loads((out / RESULT_FILE).read_text())
    assert document == json.loads(json.dumps(app.result))
    assert list(document["timings_s"]) == ["dicom_seg_s", "dicom_sr_s"]  # the steps this app ran before the writer
    assert document["outputs"]["seg"] == SEG_FILE and document["p53_status"] == "mutated"


def test_nothing_is_written_when_the_sr_cannot_be_built(inputs: tuple, tmp_path: Path) -> None:
    settings, study, found, prediction = inputs
    out = tmp_path / "out"
    bad = StudyPrediction(prediction.lesions, prediction.labels, 0.7, "unknown", RECORD.threshold,
                          prediction.reference)  # fmt: skip
    app = run_outputs(settings, study, found, bad, out)
    (error,) = app.errors
    assert isinstance(error, InputError) and "Unknown P53 status" in str(error)
    assert app.result is None and not out.exists() and list(tmp_path.iterdir()) == []
    assert "dicom_seg_s" in app.timings and "dicom_sr_s" not in app.timings
