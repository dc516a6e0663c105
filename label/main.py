"""MONAI Label app of hccp53: tumor annotation with the project's segmentation network and active learning.

Start it (``make label`` does, on a synthetic sample datastore)::

    label/.venv/bin/monailabel start_server --app label --studies STUDIES --host 127.0.0.1 --port 8000

Tasks (``docs/label.md``):

- infer ``segmentation``: the tumor mask proposed by the bundle's SegResNet (``hccp53.inference.segment``);
- train ``segmentation``: fine-tunes it on the saved final labels;
- strategies ``random`` and ``tta_variance`` (the unlabeled case with the most test-time-augmentation variance).

Options (``--conf NAME VALUE``):

- ``models`` (default the repository's ``models/``): the trained-model folder (weights, records, ``checksums.json``);
- ``reference_phase`` (default: the model's): the phase each case's image is; the others live under ``phases/<id>/``;
- ``model_dir`` (default ``STUDIES/model``): where fine-tuning writes and publishes its weights;
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
from lib.errors import RequestError, invalid, not_found
from lib.infer import TumorSegmentation
from lib.strategy import NAME as TTA
from lib.strategy import TTAVariance
from lib.train import TumorSegmentationTrain
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask
from monailabel.tasks.activelearning.random import Random

import hccp53
from hccp53.errors import HccP53Error, InputError

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
        self.model_dir = Path(conf.get("model_dir", os.path.join(studies, "model"))).resolve()
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
        if self.studies.startswith(("http://", "https://")):
            raise InputError(
                f"--studies {self.studies} is a remote datastore; this app needs a local studies folder with the "
                "co-registered phases (label/make_datastore.py builds one; docs/label.md)."
            )
        if not os.path.isdir(self.studies):
            raise InputError(f"--studies {self.studies} is not a folder; build one with label/make_datastore.py.")
        return MultiphaseDatastore(self.studies, self.bundle.phases, self.reference_phase)

    def _infer_task(self) -> TumorSegmentation:
        return TumorSegmentation(self.bundle, self.studies, self.reference_phase,
                                 [self.models / WEIGHTS, self.model_dir / WEIGHTS], self.model_dir)  # fmt: skip

    def init_infers(self) -> dict[str, InferTask]:
        return {MODEL: self._infer_task()}

    def init_trainers(self) -> dict[str, TrainTask]:
        task = self._infers[MODEL]
        return {MODEL: TumorSegmentationTrain(self.bundle, self.model_dir, task.get_path)}

    def init_strategies(self) -> dict[str, Strategy]:
        return {"random": Random(), TTA: TTAVariance(self._infers[MODEL], self.tta_candidates)}

    def infer(self, request: dict[str, Any], datastore: Datastore | None = None) -> dict[str, Any]:
        if request.get("model") not in self._infers:
            raise not_found(f"There is no model {request.get('model')!r}; this app has {', '.join(self._infers)}.")
        image = request.get("image")
        if isinstance(image, str) and not os.path.exists(image):
            self.datastore().require_image(image)  # 404 for an unknown image id
        try:
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
