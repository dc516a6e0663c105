"""The app's first three steps on one study — the study, its phases, the registered volumes — without highdicom.

:mod:`hccp53.deploy` runs them (and re-exports them for the operators); they live here so that an
environment that cannot import highdicom, the MONAI Label app's (``label/.venv``: pydicom<3), runs the very
same functions on a study it fetched from a PACS (``docs/viewer.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hccp53.dicomio import Study, load_study
from hccp53.phases import PhaseResult, identify_phases
from hccp53.settings import Settings
from hccp53.volumes.multiphase import MultiphaseVolumes
from hccp53.volumes.study import study_volumes

if TYPE_CHECKING:  # the networks import MONAI; the steps only read the predictor's phases and settings
    from hccp53.predictor import Predictor


def load(study_dir: str | Path, settings: Settings) -> Study:
    """The study in a folder, series larger than ``max_voxels_per_series`` refused before their pixels are read."""
    return load_study(Path(study_dir), max_voxels=settings.max_voxels_per_series)


def select_phases(study: Study, predictor: Predictor) -> PhaseResult:
    """The series of each phase; every phase the model needs must be there (:class:`~hccp53.phases.PhaseError`)."""
    return identify_phases(study, require=predictor.phases)


def build_volumes(study: Study, found: PhaseResult, predictor: Predictor) -> MultiphaseVolumes:
    """The model's phases on its reference phase's grid, registered when the settings say so."""
    return study_volumes(study, found, phases=predictor.phases, reference_phase=predictor.reference_phase,
                         register=predictor.settings.register)  # fmt: skip


def load_volumes(study_dir: str | Path, predictor: Predictor) -> tuple[Study, PhaseResult, MultiphaseVolumes]:
    """The first three steps: the study, its phases (the model's must be there) and the registered volumes."""
    study = load(study_dir, predictor.settings)
    found = select_phases(study, predictor)
    return study, found, build_volumes(study, found, predictor)
