"""MONAI Label app of hccp53: tumor annotation with the project's segmentation network and active learning.

Start it (``make label`` does, on a synthetic sample datastore)::

    label/.venv/bin/python -m monailabel.main start_server --app label --studies STUDIES --host 127.0.0.1 --port 8000

``--studies`` is a studies folder (``label/make_datastore.py``) or a PACS's DICOMweb root
(``http://<pacs>/dicom-web``; ``make viewer`` and ``docs/viewer.md``): then the images are the PACS's MR series,
OHIF (``/ohif/``) shows them, and the infer task runs the app's own steps on the whole study of the series it
is given (:mod:`lib.study_infer`); final labels are prepared for training in the ``hccp53 prepare`` layout
(:mod:`lib.dicomweb`).

Tasks (``docs/label.md``):

- infer ``segmentation``: the tumor mask proposed by the bundle's SegResNet (``hccp53.inference.segment``);
- train ``segmentation``: fine-tunes it on the saved final labels;
- strategies ``random`` and ``tta_variance`` (the unlabeled case with the most test-time-augmentation variance).

Options (``--conf NAME VALUE``):

- ``models`` (default the repository's ``models/``): the trained-model folder (weights, records, ``checksums.json``);
- ``reference_phase`` (default: the model's): the phase each case's image is; the others live under ``phases/<id>/``;
- ``model_dir`` (default ``STUDIES/model``; with DICOMweb ``label/model``): where fine-tuning writes and publishes
  its weights;
- ``tta_candidates`` (default 16): cases the ``tta_variance`` strategy scores per request at most.

Research use only; not a medical device.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from lib.bundle import WEIGHTS, load_bundle
from lib.datastore import MultiphaseDatastore
from lib.dicomweb import DicomwebStudies, dicomweb_client
from lib.errors import RequestError, invalid, not_found
from lib.infer import TumorSegmentation
from lib.strategy import NAME as TTA
from lib.strategy import TTAVariance
from lib.study_infer import STUDY_DIR, StudyTumorSegmentation
from lib.train import TumorSegmentationTrain
from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask
from monailabel.tasks.activelearning.random import Random

import hccp53
from hccp53.errors import HccP53Error, InputError
from hccp53.predictor import Predictor
from hccp53.settings import read_settings

logger = logging.getLogger(__name__)

MODEL = "segmentation"
#: The repository root: label/ sits in it, and the repository root is the bundle.
REPOSITORY = Path(__file__).resolve().parent.parent


class HccP53LabelApp(MONAILabelApp):
    """The hccp53 MONAI Label app (see the module docstring)."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        conf = conf or {}
        self.models = Path(conf.get("models", REPOSITORY / "models")).resolve()
        self.bundle = load_bundle(REPOSITORY, self.models)
        self.reference_phase = conf.get("reference_phase", self.bundle.record.reference_phase)
        self.dicomweb = studies.startswith(("http://", "https://"))
        # a PACS study goes through the Deploy app's own steps and networks (lib.study_infer)
        self.predictor = Predictor(self.models, read_settings(), dicom=False) if self.dicomweb else None
        default_model_dir = os.path.join(app_dir, "model") if self.dicomweb else os.path.join(studies, "model")
        self.model_dir = Path(conf.get("model_dir", default_model_dir)).resolve()
        self.tta_candidates = int(conf.get("tta_candidates", 16))
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="hccp53 tumor annotation",
            description=(
                "HCC tumor masks on co-registered multiphase liver MRI, proposed by the hccp53 segmentation "
                f"network ({', '.join(self.bundle.phases)}); the image shown is the {self.reference_phase} phase. "
                "Research use only."
            ),
            version=hccp53.__version__,
            labels={"tumor": 1},
        )

    def init_datastore(self) -> Datastore:
        if self.dicomweb:
            logger.info("DICOMweb datastore: %s (MR series; docs/viewer.md).", self.studies)
            cache = (settings.MONAI_LABEL_DATASTORE_CACHE_PATH or settings.MONAI_LABEL_DICOMWEB_CACHE_PATH).strip()
            return DicomwebStudies(dicomweb_client(self.studies), self.predictor.phases, self.reference_phase,
                                   self.predictor.settings.register, cache or None)  # fmt: skip
        if not os.path.isdir(self.studies):
            raise InputError(f"--studies {self.studies} is not a folder; build one with label/make_datastore.py.")
        return MultiphaseDatastore(self.studies, self.bundle.phases, self.reference_phase)

    def _infer_task(self) -> TumorSegmentation:
        return TumorSegmentation(self.bundle, self.studies, self.reference_phase,
                                 [self.models / WEIGHTS, self.model_dir / WEIGHTS], self.model_dir)  # fmt: skip

    def init_infers(self) -> dict[str, InferTask]:
        if self.dicomweb:
            return {MODEL: StudyTumorSegmentation(self.predictor)}
        return {MODEL: self._infer_task()}

    def init_trainers(self) -> dict[str, TrainTask]:
        # the newest weights, the shipped ones until a fine-tuning run publishes its own
        return {MODEL: TumorSegmentationTrain(self.bundle, self.model_dir, self._infer_task().get_path)}

    def init_strategies(self) -> dict[str, Strategy]:
        if self.dicomweb:  # tta_variance scores the local layout's phase files
            return {"random": Random()}
        return {"random": Random(), TTA: TTAVariance(self._infers[MODEL], self.tta_candidates)}

    def infer(self, request: dict[str, Any], datastore: Datastore | None = None) -> dict[str, Any]:
        if request.get("model") not in self._infers:
            raise not_found(f"There is no model {request.get('model')!r}; this app has {', '.join(self._infers)}.")
        image = request.get("image")
        try:
            if isinstance(image, str) and not os.path.exists(image):
                if self.dicomweb:  # the whole study of the series (404 for a series the PACS lacks)
                    request = {**request, STUDY_DIR: str(self.datastore().study_folder(image))}
                else:
                    self.datastore().require_image(image)  # 404 for an unknown image id
            return super().infer(request, datastore)
        except RequestError:
            raise
        except HccP53Error as error:
            raise invalid(str(error)) from error

    def next_sample(self, request: dict[str, Any]) -> dict[str, Any]:
        strategy = request.get("strategy") or "random"
        if strategy not in self._strategies:
            raise not_found(f"There is no strategy {strategy!r}; this app has {', '.join(self._strategies)}.")
        try:
            return super().next_sample(request)
        except HccP53Error as error:
            raise invalid(str(error)) from error

    def train(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("model") not in self._trainers:
            raise not_found(f"There is no trainer {request.get('model')!r}; this app has {', '.join(self._trainers)}.")
        try:
            return super().train(request)
        except HccP53Error as error:
            raise invalid(str(error)) from error
