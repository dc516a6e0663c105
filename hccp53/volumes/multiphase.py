"""All phases of a study on the reference phase's voxel grid, with the transforms applied.

:func:`build_multiphase` resamples every phase onto the grid of the reference phase (default:
the portal venous phase) through physical space, optionally after rigid registration that
absorbs breath-hold shifts. :meth:`MultiphaseVolumes.save` writes the volumes as NIfTI, the
transforms as ITK transform files and a ``transforms.json`` a person can read.
"""

from __future__ import annotations

import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError, OutputError
from hccp53.volumes.register import RegistrationReport, RegistrationSettings, register_rigid, sitk_threads
from hccp53.volumes.resample import check_image_geometry, resample_to_reference
from hccp53.volumes.transforms import identity_transform, transform_parameters

logger = logging.getLogger(__name__)

TRANSFORMS_JSON = "transforms.json"
CONVENTION = ("Each transform maps physical points of the reference grid (LPS mm) to physical points of the "
              "phase's own volume (the SimpleITK/ITK convention): resampling the phase through it puts the phase "
              "on the reference grid. matrix/offset_mm: y = matrix @ x + offset; rotation_deg: Euler angles about "
              "x, y, z of ITK's Euler3DTransform about centre_mm.")
_PHASE_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass
class MultiphaseVolumes:
    """Phases on one voxel grid.

    Attributes
    ----------
    reference_phase:
        The phase whose grid all phases share.
    images:
        Phase → float32 volume on the reference grid (the reference phase itself unchanged
        apart from the pixel type).
    transforms:
        Phase → the transform applied (reference physical points → the phase's physical
        points); a centred identity :class:`SimpleITK.Euler3DTransform` when not registered.
    reports:
        Phase → :class:`~hccp53.volumes.register.RegistrationReport` for every registered
        phase (empty without registration; the reference phase is never registered).
    """

    reference_phase: str
    images: dict[str, sitk.Image]
    transforms: dict[str, sitk.Transform]
    reports: dict[str, RegistrationReport] = field(default_factory=dict)

    def summary(self) -> dict:
        """The content of ``transforms.json``: reference grid, convention and per-phase parameters."""
        reference = self.images[self.reference_phase]
        phases = {}
        for phase, transform in self.transforms.items():
            report = self.reports.get(phase)
            phases[phase] = {
                "image": f"{phase}.nii.gz",
                "transform": f"{phase}.tfm",
                "registered": report is not None and not report.fallback_to_identity,
                **transform_parameters(transform),
                "registration": report.to_dict() if report is not None else None,
            }
        return {
            "reference_phase": self.reference_phase,
            "convention": CONVENTION,
            "reference_grid": {
                "size": list(reference.GetSize()),
                "spacing_mm": list(reference.GetSpacing()),
                "origin_mm": list(reference.GetOrigin()),
                "direction": list(reference.GetDirection()),
            },
            "phases": phases,
        }

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``{phase}.nii.gz``, ``{phase}.tfm`` and ``transforms.json`` into ``out_dir``.

        Files are written under temporary names and renamed only once all are written, so an
        error leaves no partial set behind.

        Parameters
        ----------
        out_dir:
            Folder to write into; created when absent. Existing files of the same names are replaced.

        Returns
        -------
        dict[str, Path]
            File name → path of every file written.

        Raises
        ------
        OutputError
            ``out_dir`` is not a folder or cannot be written.
        """
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create the output folder {out}: {error.strerror}; choose a writable "
                              "folder.") from None
        pending: list[tuple[Path, Path]] = []
        try:
            for phase, image in self.images.items():
                temporary = out / f".partial-{phase}.nii.gz"
                sitk.WriteImage(image, str(temporary), useCompression=True)
                pending.append((temporary, out / f"{phase}.nii.gz"))
                temporary = out / f".partial-{phase}.tfm"
                sitk.WriteTransform(self.transforms[phase], str(temporary))
                pending.append((temporary, out / f"{phase}.tfm"))
            temporary = out / f".partial-{TRANSFORMS_JSON}"
            temporary.write_text(json.dumps(self.summary(), indent=2) + "\n")
            pending.append((temporary, out / TRANSFORMS_JSON))
        except (OSError, RuntimeError) as error:  # SimpleITK reports write failures as RuntimeError
            for temporary, _ in pending:
                temporary.unlink(missing_ok=True)
            raise OutputError(f"cannot write the phase volumes into {out} ({str(error).strip().splitlines()[-1]}); "
                              "check the free space and permissions.") from None
        written = {}
        for temporary, final in pending:
            os.replace(temporary, final)
            written[final.name] = final
        logger.info("Wrote %d phase volumes and their transforms to %s.", len(self.images), out)
        return written


def build_multiphase(
    volumes: dict[str, sitk.Image],
    reference_phase: str = "pvp",
    register: bool = False,
    interpolator: str = "linear",
    default_value: float = 0.0,
    settings: RegistrationSettings | None = None,
    reference_mask: sitk.Image | None = None,
) -> MultiphaseVolumes:
    """Resample every phase onto the reference phase's grid, optionally after rigid registration.

    Parameters
    ----------
    volumes:
        Phase name (``t2``, ``pre``, ``ap``, ``pvp``, ``dp``, ``hbp``; lowercase letters, digits
        and ``_``) → volume in LPS patient space, each on its own grid.
    reference_phase:
        The phase whose grid the others take (default: portal venous).
    register:
        Register each phase rigidly onto the reference (Mattes mutual information) before
        resampling; otherwise phases are resampled through their DICOM geometry alone.
    interpolator:
        Interpolation of the phases: ``"linear"``, ``"nearest"``, ``"bspline"`` or ``"lanczos"``.
    default_value:
        Value of reference voxels outside a phase's volume.
    settings:
        Registration settings (None: defaults); used only when ``register`` is True.
    reference_mask:
        Optional region of the reference volume where the registration metric is evaluated
        (e.g. a dilated liver mask); used only when ``register`` is True.

    Returns
    -------
    MultiphaseVolumes
        Images, transforms and registration reports per phase.

    Raises
    ------
    InputError
        No volumes, the reference phase is missing, a phase name is not usable as a file name,
        or a volume has unusable geometry, a constant value or no overlap with the reference.
    ConfigError
        ``settings`` or ``reference_mask`` given without ``register``, or an unknown interpolator.
    """
    if not volumes:
        raise InputError("no phase volumes were given; at least the reference phase is needed.")
    for phase in volumes:
        if not isinstance(phase, str) or not _PHASE_NAME.match(phase):
            raise InputError(f"phase name {phase!r} is not usable; use lowercase names such as 't2', 'ap', 'pvp'.")
    if reference_phase not in volumes:
        raise InputError(f"the reference phase {reference_phase!r} is missing (phases given: "
                         f"{', '.join(volumes)}); supply it or choose one of those as the reference phase.")
    if not register and (settings is not None or reference_mask is not None):
        raise ConfigError("registration settings or a registration mask were given with register=False; "
                          "set register=True or leave them out.")
    for phase, image in volumes.items():
        check_image_geometry(image, f"phase {phase!r}")
    reference = volumes[reference_phase]
    images: dict[str, sitk.Image] = {}
    transforms: dict[str, sitk.Transform] = {}
    reports: dict[str, RegistrationReport] = {}
    if register:
        transforms, reports = _register_all(volumes, reference_phase, reference_mask, settings)
    for phase, image in volumes.items():
        if phase == reference_phase:
            transforms[phase] = identity_transform(reference)
            images[phase] = sitk.Cast(reference, sitk.sitkFloat32)
            continue
        transforms.setdefault(phase, identity_transform(reference))
        images[phase] = resample_to_reference(image, reference, transforms[phase], interpolator, default_value,
                                              f"phase {phase!r}")  # fmt: skip
    refused = [p for p, r in reports.items() if r.fallback_to_identity]
    logger.info("Put %d phases on the %s grid %s (%s)%s.", len(images), reference_phase, reference.GetSize(),
                "registered" if register else "geometry only",
                f"; registration refused for {', '.join(refused)}" if refused else "")
    return MultiphaseVolumes(reference_phase, images, transforms, reports)


def _register_all(volumes: dict[str, sitk.Image], reference_phase: str, reference_mask: sitk.Image | None,
                  settings: RegistrationSettings | None) -> tuple[dict[str, sitk.Transform],
                                                                  dict[str, RegistrationReport]]:  # fmt: skip
    """Every phase registered onto the reference, one thread per phase up to the number of cores.

    SimpleITK releases the GIL while it registers, and each registration is single-threaded by default
    (``RegistrationSettings.threads``), so the results are the same as one after another, only sooner; the
    first error in phase order is raised.
    """
    settings = settings or RegistrationSettings()
    reference = volumes[reference_phase]
    moving = [phase for phase in volumes if phase != reference_phase]
    if not moving:
        return {}, {}
    with sitk_threads(settings.threads), ThreadPoolExecutor(min(len(moving), os.cpu_count() or 1)) as pool:
        futures = {phase: pool.submit(register_rigid, reference, volumes[phase], reference_mask, settings,
                                      f"phase {phase!r}") for phase in moving}  # fmt: skip
        results = {phase: future.result() for phase, future in futures.items()}
    return {p: r[0] for p, r in results.items()}, {p: r[1] for p, r in results.items()}
