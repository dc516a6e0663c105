"""hccp53 MONAI Deploy application: a DICOM study in; DICOM SEG, DICOM SR and result.json out.

Wiring only (the operators are thin adapters over ``hccp53.deploy``)::

    study loader -> phase selector -> multiphase volumes -> tumor segmentation -> P53 classifier
    then, each given the study and phases (selector) and the prediction (classifier):
    DICOM SEG (built) -> DICOM SR (built, referencing the SEG) -> result writer (SEG + SR + PDF + result.json,
    written at once; it also receives the SEG)

Run as ``python app.py -i STUDY_DIR -o OUT_DIR -m models``, as ``python -m`` / ``python`` on this folder,
or with HOLOSCAN_INPUT_PATH / HOLOSCAN_OUTPUT_PATH / HOLOSCAN_MODEL_PATH (what a MAP sets). Research use only.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hccp53.runtime import raise_stack_limit  # noqa: E402  (after the path insert)


def build_app(argv: list[str] | None = None):
    from holoscan.conditions import CountCondition
    from monai.deploy.core import Application

    from hccp53.predictor import Predictor
    from hccp53.settings import read_settings
    from operators.dicom_seg_operator import DicomSegOperator
    from operators.dicom_sr_operator import DicomSrOperator
    from operators.multiphase_volume_operator import MultiphaseVolumeOperator
    from operators.p53_classifier_operator import P53ClassifierOperator
    from operators.phase_selector_operator import PhaseSelectorOperator
    from operators.result_writer_operator import ResultWriterOperator
    from operators.study_loader_operator import StudyLoaderOperator
    from operators.tumor_segmentation_operator import TumorSegmentationOperator

    class HccP53App(Application):
        """The operators of the module docstring, one study per run."""

        name = "hccp53"
        description = "TP53 mutation of HCC from multiphase liver MRI (research use only)"

        def __init__(self, *args, **kwargs) -> None:
            self.errors: list = []
            self.timings: dict[str, float] = {}  # operator name -> seconds (operators.failures.reports_errors)
            self.result: dict | None = None
            super().__init__(*args, **kwargs)

        def compose(self) -> None:
            context = Application.init_app_context(self.argv)
            settings = read_settings()
            predictor = Predictor(Path(context.model_path), settings)
            loader = StudyLoaderOperator(self, CountCondition(self, 1), input_folder=Path(context.input_path),
                                         settings=settings, name="study_loader")  # fmt: skip
            selector = PhaseSelectorOperator(self, predictor=predictor, name="phase_selector")
            volumes = MultiphaseVolumeOperator(self, predictor=predictor, name="multiphase_volumes")
            segmentation = TumorSegmentationOperator(self, predictor=predictor, name="tumor_segmentation")
            classifier = P53ClassifierOperator(self, predictor=predictor, name="p53_classifier")
            seg = DicomSegOperator(self, predictor=predictor, name="dicom_seg")
            sr = DicomSrOperator(self, predictor=predictor, name="dicom_sr")
            writer = ResultWriterOperator(self, predictor=predictor, output_folder=Path(context.output_path),
                                          name="result_writer")  # fmt: skip
            self.add_flow(loader, selector, {(loader.OUTPUT_STUDY, selector.INPUT_STUDY)})
            self.add_flow(selector, volumes, {(selector.OUTPUT_PHASES, volumes.INPUT_PHASES),
                                              (selector.OUTPUT_STUDY, volumes.INPUT_STUDY)})  # fmt: skip
            self.add_flow(volumes, segmentation, {(volumes.OUTPUT_VOLUMES, segmentation.INPUT_VOLUMES)})
            self.add_flow(segmentation, classifier,
                          {(segmentation.OUTPUT_SEGMENTATION, classifier.INPUT_SEGMENTATION)})  # fmt: skip
            for output in (seg, sr, writer):
                self.add_flow(selector, output, {(selector.OUTPUT_STUDY, output.INPUT_STUDY),
                                                 (selector.OUTPUT_PHASES, output.INPUT_PHASES)})  # fmt: skip
                self.add_flow(classifier, output, {(classifier.OUTPUT_PREDICTION, output.INPUT_PREDICTION)})
            self.add_flow(seg, sr, {(seg.OUTPUT_SEG, sr.INPUT_SEG)})
            self.add_flow(seg, writer, {(seg.OUTPUT_SEG, writer.INPUT_SEG)})
            self.add_flow(sr, writer, {(sr.OUTPUT_SR, writer.INPUT_SR)})

    return HccP53App(argv)


def main(argv: list[str] | None = None) -> int:
    raise_stack_limit()
    from hccp53.errors import HccP53Error
    from hccp53.logging_setup import configure_logging

    configure_logging(0)
    try:
        app = build_app(argv)
        app.run()
    except HccP53Error as error:  # raised while composing (models folder, settings)
        sys.stderr.write(f"hccp53 app: error: {error}\n")
        return 1
    if app.errors:
        sys.stderr.write(f"hccp53 app: error: {app.errors[0]}\n")
        return 1
    if app.result is None:
        sys.stderr.write("hccp53 app: error: the run ended without a result; see the log above.\n")
        return 1
    result = app.result
    probability = result["p53_probability"]
    print(f"P53: {result['p53_status']}" + ("" if probability is None else f" (probability {probability:.3f}, "
          f"threshold {result['threshold']:g})") + f"; {len(result['lesions'])} lesion(s); device {result['device']}.")
    logging.getLogger("hccp53.app").info("Result written.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
