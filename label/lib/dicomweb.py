"""The DICOMweb datastore: the MR series of a PACS as images, their studies fetched whole, saved masks prepared.

With ``--studies http://<pacs>/dicom-web`` MONAI Label lists the PACS's series (QIDO-RS) and its OHIF viewer
reads them through the server's ``/proxy/dicom/`` (``docs/viewer.md``). An image id is a SeriesInstanceUID.
The network needs every phase of the study, not one series, so the first request about a series fetches
(WADO-RS) every MR series of its study into the cache::

    CACHE/<md5 of the URL>/                 MONAI Label's own cache (series as NIfTI, labels/final/...)
      hccp53/studies/<StudyInstanceUID>/<SeriesInstanceUID>/*.dcm   the fetched studies
      hccp53/prepared/datalist.json         saved masks in the ``hccp53 prepare`` layout (docs/label.md)
      hccp53/prepared/cases/<image id>/     t2.nii.gz, ap.nii.gz, pvp.nii.gz, ..., mask.nii.gz, phases.json

A saved final label (on the grid of the series it was drawn on) goes through :func:`hccp53.data.prepare.
prepare_case`, the code of ``hccp53 prepare``: the study's phases on the reference phase's grid and the mask
resampled onto it; the case's entry has no P53 ``label`` (an annotator does not know it), so it serves
segmentation training (``hccp53 train segmentation`` and this app's trainer), not the classifier.
Unlike MONAI Label's own DICOMweb datastore, a saved label is not sent back to the PACS as a DICOM SEG
(that needs dcmqi, which MONAI Label downloads at start-up; this machine may have no network).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dicomweb_client import DICOMwebClient
from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX, DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.datastore.utils.convert import dicom_to_nifti
from monailabel.datastore.utils.dicom import dicom_web_download_series
from monailabel.interfaces.datastore import DefaultLabelTag

from hccp53.data.prepare import CaseRequest, prepare_case
from hccp53.errors import InputError
from lib.datastore import check_label
from lib.errors import not_found

logger = logging.getLogger(__name__)

MODALITY = "MR"
PREPARED = "prepared"
DATALIST = "datalist.json"
_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_MODALITY = "00080060"


def _value(dataset: dict[str, Any], tag: str) -> str:
    return str((dataset.get(tag, {}).get("Value") or [""])[0])


def dicomweb_client(url: str) -> DICOMwebClient:
    """A DICOMweb client as MONAI Label builds one (its QIDO/WADO/STOW prefixes and basic-auth settings)."""
    session = None
    if settings.MONAI_LABEL_DICOMWEB_USERNAME and settings.MONAI_LABEL_DICOMWEB_PASSWORD:
        from dicomweb_client.session_utils import create_session_from_user_pass

        session = create_session_from_user_pass(settings.MONAI_LABEL_DICOMWEB_USERNAME,
                                                settings.MONAI_LABEL_DICOMWEB_PASSWORD)  # fmt: skip
    return DICOMwebClientX(url=url, session=session, qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                           wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                           stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)  # fmt: skip


class DicomwebStudies(DICOMWebDatastore):
    """MONAI Label's DICOMweb datastore with whole studies fetched and saved masks prepared for training.

    Parameters
    ----------
    client
        The PACS (:func:`dicomweb_client`).
    phases
        The phases a study must have (the model's).
    reference_phase
        The phase whose grid prepared cases are on.
    register
        Whether prepared cases are registered (the inference settings' ``register``).
    cache_path
        The cache folder (default MONAI Label's, ``~/.cache/monailabel/dicom``).
    """

    def __init__(self, client: DICOMwebClient, phases: Sequence[str], reference_phase: str, register: bool,
                 cache_path: str | None = None) -> None:  # fmt: skip
        super().__init__(client, {"Modality": MODALITY}, cache_path, fetch_by_frame=False, convert_to_nifti=True)
        self.phases = tuple(phases)
        self.reference_phase = reference_phase
        self.register = register
        self.root = Path(self._datastore_path) / "hccp53"
        self.prepared = self.root / PREPARED
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # ---- the PACS ----------------------------------------------------------------------------------------------
    def require_image(self, image_id: str) -> str:
        """The StudyInstanceUID of series ``image_id``; HTTP 404 when the PACS has no such MR series."""
        found = self._client.search_for_series(search_filters={"SeriesInstanceUID": image_id})
        found = [s for s in found if _value(s, _SERIES_UID) == image_id]
        if not found or _value(found[0], _MODALITY) != MODALITY:
            raise not_found(f"Image {image_id!r} is not an MR series of the PACS {self._client.base_url} "
                            f"(GET /datastore/?output=all lists the series it has).")  # fmt: skip
        return _value(found[0], _STUDY_UID)

    def study_folder(self, image_id: str) -> Path:
        """The folder holding every MR series of the study of series ``image_id``, fetched once (WADO-RS)."""
        study_uid = self.require_image(image_id)
        folder = self.root / "studies" / study_uid
        with self._lock:
            for series in self._client.search_for_series(study_uid):
                series_uid = _value(series, _SERIES_UID)
                target = folder / series_uid
                if _value(series, _MODALITY) != MODALITY or target.is_dir():
                    continue
                partial = Path(tempfile.mkdtemp(prefix=".fetch-", dir=self.root))
                try:
                    dicom_web_download_series(study_uid, series_uid, str(partial), self._client)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial.rename(target)  # whole series or nothing
                finally:
                    shutil.rmtree(partial, ignore_errors=True)
        logger.info("Study of series %s: %d series in the cache.", image_id, len(list(folder.iterdir())))
        return folder

    def get_image_uri(self, image_id: str) -> str:
        """The series as NIfTI (MONAI Label's conversion), from the fetched study."""
        nifti = Path(self._datastore.image_path()) / f"{image_id}.nii.gz"
        if not nifti.exists():
            series_dir = self.study_folder(image_id) / image_id
            LocalDatastore.add_image(self, image_id, dicom_to_nifti(str(series_dir)), self._dicom_info(image_id))
        return str(nifti)

    # ---- labels --------------------------------------------------------------------------------------------------
    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   label_id: str = "") -> str:  # fmt: skip
        """Check the label, keep it (MONAI Label's ``labels/<tag>/``) and, when final, prepare the case."""
        image_path = self.get_image_uri(image_id)
        check_label(label_filename, image_path, image_id)
        if label_tag == DefaultLabelTag.FINAL:
            self.prepare(image_id, Path(label_filename))
        return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)

    def prepare(self, image_id: str, mask: Path) -> dict[str, Any]:
        """The study of ``image_id`` with ``mask`` into ``prepared/`` (``hccp53 prepare``'s code and layout)."""
        folder = self.study_folder(image_id)
        request = CaseRequest(image_id, folder, None, {}, mask)
        with self._lock:
            staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=self.root))
            try:
                entry = prepare_case(request, staging, self.phases, self.reference_phase, self.register)
                case = self.prepared / "cases" / image_id
                if case.exists():
                    shutil.rmtree(case)
                case.parent.mkdir(parents=True, exist_ok=True)
                (staging / "cases" / image_id).rename(case)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            cases = {c["case_id"]: c for c in self._prepared_cases()}
            cases[image_id] = entry
            datalist = {"name": "hccp53 cases annotated in MONAI Label", "reference_phase": self.reference_phase,
                        "registered": self.register, "training": [cases[c] for c in sorted(cases)], "test": []}
            partial = self.prepared / f".{DATALIST}.partial"
            partial.write_text(json.dumps(datalist, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, self.prepared / DATALIST)
        logger.info("Prepared case %s for training in %s.", image_id, self.prepared)
        return entry

    def _prepared_cases(self) -> list[dict[str, Any]]:
        path = self.prepared / DATALIST
        return json.loads(path.read_text(encoding="utf-8"))["training"] if path.is_file() else []

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        """Prepared cases: every phase file of the model (network order) and the tumor mask under ``label``."""
        cases = []
        for entry in self._prepared_cases():
            missing = [p for p in self.phases if p not in entry]
            if missing:
                raise InputError(f"Prepared case {entry['case_id']} has no {', '.join(missing)} phase.")
            cases.append({**{p: str(self.prepared / entry[p]) for p in self.phases},
                          "label": str(self.prepared / entry["mask"]), "case_id": entry["case_id"]})  # fmt: skip
        return cases

    def get_labeled_images(self, label_tag: str | None = None, labels: Sequence[str] | None = None) -> list[str]:
        return [c["case_id"] for c in self._prepared_cases()]

    def get_unlabeled_images(self, label_tag: str | None = None, labels: Sequence[str] | None = None) -> list[str]:
        labeled = set(self.get_labeled_images())
        return [s for s in self.list_images() if s not in labeled]
