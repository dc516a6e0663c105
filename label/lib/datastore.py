"""The multiphase datastore: what the annotator sees, where the other phases live, which labels it accepts.

Layout of a studies folder (``label/make_datastore.py`` writes it from a ``hccp53 synth`` or
``hccp53 prepare`` datalist)::

    STUDIES/
      SYN0001.nii.gz              the reference phase (portal venous by default): the image the annotator sees
      phases/SYN0001/t2.nii.gz    every other phase of the case, on the reference phase's voxel grid
      phases/SYN0001/ap.nii.gz
      labels/final/SYN0001.nii.gz tumor masks saved by the annotators (MONAI Label's own folder)

MONAI Label lists only the files at the top of the folder, so each case appears once, as its reference
phase; the network's other input phases are found by name under ``phases/<image id>/``. Saved labels
must lie on the image's grid and hold 0 (background) and 1 (tumor) only: anything else is refused with
HTTP 422 before it reaches the datastore.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from monai.data import MetaTensor
from monai.transforms import LoadImage
from monailabel.config import settings
from monailabel.datastore.local import LocalDatastore

from hccp53.data.datalist import same_grid
from hccp53.errors import InputError
from lib.errors import invalid, not_found

logger = logging.getLogger(__name__)

PHASES_DIR = "phases"
#: Grid tolerances: spacing (relative), origin (mm), direction cosines (as hccp53.data.datalist).
_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".seg.nrrd")


def image_id_of(path: str | Path) -> str:
    """The datastore id of an image file (its name without the extension)."""
    name = Path(path).name
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def phase_files(image_path: str | Path, phases: Sequence[str], reference_phase: str) -> dict[str, Path]:
    """The file of each of ``phases`` for the datastore image at ``image_path``.

    Raises
    ------
    InputError
        If a phase file is missing.
    """
    image_path = Path(image_path)
    folder = image_path.parent / PHASES_DIR / image_id_of(image_path)
    files: dict[str, Path] = {}
    for phase in phases:
        if phase == reference_phase:
            files[phase] = image_path
            continue
        candidates = [folder / f"{phase}{suffix}" for suffix in (".nii.gz", ".nii", ".nrrd")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise InputError(
                f"Case {image_id_of(image_path)} has no {phase} phase ({folder / (phase + '.nii.gz')} is missing); "
                f"the segmentation network needs {', '.join(phases)}: rebuild the datastore with "
                f"label/make_datastore.py."
            )
        files[phase] = found
    return files


def load_phases(files: dict[str, Path]) -> dict[str, MetaTensor]:
    """Channel-first phase tensors (as :func:`hccp53.transforms.load_phases` reads them), checked to share one grid."""
    loader = LoadImage(image_only=True, ensure_channel_first=True, reader="NibabelReader")
    phases: dict[str, MetaTensor] = {}
    for phase, path in files.items():
        try:
            phases[phase] = loader(str(path))
        except Exception as error:  # nibabel and MONAI raise many types for an unreadable file
            raise InputError(f"The {phase} phase {path.name} is not a readable NIfTI image ({error}).") from error
    first, tensor = next(iter(phases.items()))
    for phase, other in phases.items():
        same_shape = tuple(other.shape[1:]) == tuple(tensor.shape[1:])
        if not same_shape or not np.allclose(np.asarray(other.affine), np.asarray(tensor.affine), atol=1e-3):
            raise InputError(
                f"The {phase} phase is not on the {first} phase's voxel grid; resample every phase onto the "
                f"reference phase (hccp53 prepare does) before adding the case."
            )
    return phases


def _grid(image: sitk.Image) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    return (tuple(image.GetSize()), np.asarray(image.GetSpacing()), np.asarray(image.GetOrigin()),
            np.asarray(image.GetDirection()))  # fmt: skip


def _describe(grid: tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]) -> str:
    size, spacing, origin, _ = grid
    return (f"size {'x'.join(str(s) for s in size)}, spacing {', '.join(f'{s:.3g}' for s in spacing)} mm, "
            f"origin {', '.join(f'{o:.1f}' for o in origin)} mm")  # fmt: skip


def check_label(label_path: str | Path, image_path: str | Path, image_id: str) -> None:
    """Refuse a label that is unreadable, not on the image's grid, or holds values other than 0 and 1.

    Raises
    ------
    RequestError
        HTTP 422 naming what is wrong.
    """
    try:
        label = sitk.ReadImage(str(label_path))
    except RuntimeError:
        raise invalid(
            f"The uploaded label for image {image_id} is not a readable image (NIfTI .nii.gz or NRRD expected); "
            f"export the segmentation as a label map and upload it again."
        ) from None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(image_path))
    reader.ReadImageInformation()
    image_grid = (tuple(reader.GetSize()), np.asarray(reader.GetSpacing()), np.asarray(reader.GetOrigin()),
                  np.asarray(reader.GetDirection()))  # fmt: skip
    label_grid = _grid(label)
    if not same_grid(label_grid, image_grid):  # the sizes' lengths differ too when the dimensions do
        raise invalid(
            f"The uploaded label is not on the voxel grid of image {image_id} (label: {_describe(label_grid)}; "
            f"image: {_describe(image_grid)}); save the segmentation on the image's own grid."
        )
    values = np.unique(sitk.GetArrayViewFromImage(label))
    extra = [v for v in values.tolist() if v not in (0, 1)]
    if extra:
        raise invalid(
            f"The uploaded label for image {image_id} holds values {extra[:5]} besides 0 (background) and "
            f"1 (tumor); merge every tumor segment into label 1."
        )


class MultiphaseDatastore(LocalDatastore):
    """MONAI Label's local datastore with the multiphase layout above and checked labels.

    Parameters
    ----------
    studies
        The studies folder.
    phases
        The segmentation network's input phases.
    reference_phase
        The phase stored as each case's image (the others live under ``phases/<id>/``).
    """

    def __init__(self, studies: str, phases: Sequence[str], reference_phase: str) -> None:
        if reference_phase not in phases:
            raise InputError(
                f"The reference phase {reference_phase} is not one of the network's phases {list(phases)}."
            )
        super().__init__(
            studies,
            extensions=settings.MONAI_LABEL_DATASTORE_FILE_EXT,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )
        self.phases = tuple(phases)
        self.reference_phase = reference_phase

    def require_image(self, image_id: str) -> str:
        """The path of image ``image_id``; HTTP 404 when the datastore has no such image."""
        uri = self.get_image_uri(image_id)
        if not uri:
            count = len(self.list_images())
            raise not_found(
                f"Image {image_id!r} is not in the datastore ({count} images; GET /datastore/?output=all lists them)."
            )
        return uri

    def phase_files(self, image_id: str) -> dict[str, Path]:
        """The phase files of image ``image_id``, network order."""
        return phase_files(self.require_image(image_id), self.phases, self.reference_phase)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        image_path = self.require_image(image_id)
        check_label(label_filename, image_path, image_id)
        return super().save_label(image_id, label_filename, label_tag, label_info)

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        """Cases with a final label: every phase file (network order) and the tumor mask under ``label``."""
        cases = []
        for item in super().datalist(full_path=True):
            files = phase_files(item["image"], self.phases, self.reference_phase)
            cases.append({**{p: str(f) for p, f in files.items()}, "label": item["label"],
                          "case_id": image_id_of(item["image"])})  # fmt: skip
        return cases

