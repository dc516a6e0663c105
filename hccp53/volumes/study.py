"""From a loaded study and its identified phases to co-registered volumes: the one path that
``hccp53 prepare``, the Deploy app's operators and MONAI Label all take."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import SimpleITK as sitk

from hccp53.dicomio.stack import Study
from hccp53.dicomio.volume import stack_to_image
from hccp53.errors import InputError
from hccp53.volumes.multiphase import MultiphaseVolumes, build_multiphase
from hccp53.volumes.resample import constant_value

if TYPE_CHECKING:
    from hccp53.phases.identify import PhaseResult

logger = logging.getLogger(__name__)


def study_volumes(
    study: Study,
    phases_found: PhaseResult,
    phases: Sequence[str],
    *,
    reference_phase: str,
    register: bool,
) -> MultiphaseVolumes:
    """Volumes of ``phases`` (plus the reference phase) on the reference phase's grid.

    Only the chosen stacks' pixels are read. Phases in ``phases`` that were not identified
    are left out with a warning (``identify_phases(require=...)`` is where a missing phase
    becomes an error). ``phases`` come from the model record or the config (the network's input
    phases); ``hccp53 prepare`` passes every phase. The reference phase and whether to register come from the
    caller too (the model record and the run settings for the app, the command line for ``hccp53 prepare``):
    no default here can disagree with theirs.

    Raises
    ------
    InputError
        The reference phase was not identified, a chosen stack cannot become a volume, or it holds one value
        in every voxel (no image data).
    """
    if reference_phase not in phases_found.phases:
        raise InputError(
            f"The reference phase '{reference_phase}' was not identified in the study; it defines the voxel grid "
            "that every phase is resampled onto.")
    wanted = list(dict.fromkeys([*phases, reference_phase]))
    images = {}
    for phase in wanted:
        choice = phases_found.phases.get(phase)
        if choice is None:
            logger.warning("phase %s was not identified; its volume is left out", phase)
            continue
        images[phase] = _with_signal(stack_to_image(study, choice.stack), phase, choice.stack.label)
    return build_multiphase(images, reference_phase=reference_phase, register=register)


def _with_signal(image: sitk.Image, phase: str, label: str) -> sitk.Image:
    """The image, if it holds more than one value; a blank phase (all zero, say) gives no prediction."""
    from hccp53 import PHASE_NAMES

    value = constant_value(image)
    if value is not None:
        raise InputError(f"{label}, chosen as the {PHASE_NAMES.get(phase, phase)} phase, has the same value "
                         f"({value:g}) in every voxel; it holds no image data.")
    return image
