"""Rigid registration of one phase onto the reference phase (breath-hold shifts).

Each phase of a liver MRI study is acquired in its own breath-hold, so the liver moves by a
few millimetres between phases, mostly along the head-foot axis (z). The contrast differs
between phases (arterial, portal venous, T2), so the similarity is Mattes mutual information,
not intensity differences. The scheme:

1. a translation stage over a multi-resolution pyramid (coarse to fine), which captures the
   breath-hold shift robustly;
2. a rigid stage (:class:`SimpleITK.Euler3DTransform`, rotation about the reference volume's
   centre) that starts from that translation and refines it on the finer levels.

Sampling uses a fixed seed, and every stage a bounded number of iterations, so a run is
deterministic: with the metric evaluated on one thread (``threads=1``, the default) repeated
runs are bit-identical; more threads add the metric up in varying order (about 1e-6 mm apart).
A result beyond ``max_translation_mm`` or ``max_rotation_deg``, one that does not improve the
metric over the identity, one with almost no mutual information, or a failed optimisation is
refused: the identity is used instead, with a logged warning and the reason
in the :class:`RegistrationReport`.

Transforms follow the SimpleITK convention: they map reference (fixed) physical points to
moving physical points, which is what :func:`hccp53.volumes.resample.resample_to_reference`
expects. For a phase whose anatomy is displaced by ``s`` mm from the reference, the
registered translation is ``s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError
from hccp53.volumes.resample import check_image_geometry, check_overlap, constant_value
from hccp53.volumes.transforms import identity_transform, image_centre, rigid_about, transform_parameters

logger = logging.getLogger(__name__)

METRIC_NAME = "mattes_mutual_information"


@dataclass(frozen=True)
class RegistrationSettings:
    """Settings of :func:`register_rigid`; the defaults suit multiphase liver MRI.

    Raises :class:`~hccp53.errors.ConfigError` on construction when the settings contradict
    each other (sigmas and shrink factors of different lengths, too few samples, ...).

    Attributes
    ----------
    histogram_bins:
        Bins of the Mattes mutual information joint histogram.
    metric_samples:
        Number of fixed voxels (inside the mask, when one is given), drawn at random, on which
        the metric is evaluated at each resolution level (all voxels when there are fewer).
    seed:
        Seed of that random sampling (a fixed seed makes the result deterministic).
    working_spacing_mm:
        Both volumes are first averaged over the largest whole number of voxels per axis that
        does not exceed this length by more than 10% (1.5 and 1.52 mm pixels become ~3 mm, 2 mm
        pixels stay), which bounds the cost on high-resolution volumes; the report's metric
        values are computed on these.
    shrink_factors:
        Further down-sampling factor of each resolution level of the translation stage, coarse to fine.
    smoothing_sigmas_mm:
        Gaussian smoothing (mm) of each level, one value per shrink factor.
    rigid_levels:
        How many of the finest levels the rigid (rotation + translation) stage uses; 0 keeps
        the result a pure translation.
    translation_iterations:
        Largest number of optimiser iterations per level of the translation stage.
    rigid_iterations:
        Largest number of optimiser iterations per level of the rigid stage.
    learning_rate:
        First step length of the regular-step gradient descent (about mm, with the
        physical-shift parameter scales); it halves on every change of direction.
    minimum_step:
        Step length at which a level stops.
    max_translation_mm:
        A translation larger than this is refused (identity instead, flagged).
    max_rotation_deg:
        A rotation larger than this is refused (identity instead, flagged).
    threads:
        Threads that evaluate the metric. 1 (the default) makes repeated runs bit-identical, so the
        app gives byte-identical probabilities for the same study; more threads add the metric up in
        varying order, and results then differ by about 1e-6 mm (and 1e-7 in the probability).
    min_mutual_information:
        A result whose mutual information (minus the metric value) stays below this is refused:
        the volumes share too little structure for the alignment to mean anything (about 0.7 to
        1.2 between liver MRI phases of one patient, about 0 for unrelated volumes).

    The defaults were chosen by ``bench/bench_registration.py`` (five full-size synthetic studies, seed 7,
    three vendors, t2 and ap onto pvp, one thread each): 20,000 samples find the true breath-hold shift to
    0.25 mm on average (at most 0.60 mm) in 2.3 s a phase, the former 50,000 to 0.23 mm (at most 0.57 mm) in
    3.5 s. Fewer rigid levels or a coarser minimum step were faster still but missed the rotations of
    ``tests/volumes/test_register.py`` by more than 0.75 mm.
    """

    histogram_bins: int = 32
    metric_samples: int = 20_000
    seed: int = 53
    working_spacing_mm: float = 3.0
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (4.0, 2.0, 1.0)
    rigid_levels: int = 2
    translation_iterations: int = 100
    rigid_iterations: int = 60
    learning_rate: float = 2.0
    minimum_step: float = 0.01
    max_translation_mm: float = 30.0
    max_rotation_deg: float = 10.0
    min_mutual_information: float = 0.05
    threads: int = 1

    def __post_init__(self) -> None:
        if len(self.shrink_factors) != len(self.smoothing_sigmas_mm) or not self.shrink_factors:
            raise ConfigError(f"registration needs one smoothing sigma per shrink factor; got shrink factors "
                              f"{self.shrink_factors} and sigmas {self.smoothing_sigmas_mm}.")
        if self.metric_samples < 1000:
            raise ConfigError(f"registration metric_samples {self.metric_samples} is too few; use at least 1000.")
        if not 0 <= self.rigid_levels <= len(self.shrink_factors):
            raise ConfigError(f"registration rigid_levels {self.rigid_levels} must lie between 0 and the number of "
                              f"levels ({len(self.shrink_factors)}).")


@dataclass(frozen=True)
class RegistrationReport:
    """What one registration did.

    Attributes
    ----------
    metric:
        The similarity measure (Mattes mutual information; lower is better, it is negative).
    metric_before, metric_after:
        Its value at full resolution for the identity and for the transform found.
    translation_mm:
        Translation found (x, y, z in LPS mm): the displacement of the centre of rotation.
    rotation_deg:
        Euler angles found about x, y, z (degrees).
    rotation_angle_deg:
        Total rotation angle found (degrees).
    centre_mm:
        Centre of rotation (LPS mm).
    iterations:
        Optimiser iterations over all stages and levels.
    seconds:
        Wall time of the registration.
    stop_condition:
        The optimiser's stop condition of the last stage.
    fallback_to_identity:
        True when the result was refused and the identity applied instead.
    fallback_reason:
        Why it was refused (None when accepted).
    """

    metric: str
    metric_before: float
    metric_after: float
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    rotation_angle_deg: float
    centre_mm: tuple[float, float, float]
    iterations: int
    seconds: float
    stop_condition: str
    fallback_to_identity: bool
    fallback_reason: str | None

    def to_dict(self) -> dict:
        """The report as JSON-ready values."""
        return asdict(self)


def dilate_mask(mask: sitk.Image, radius_mm: float) -> sitk.Image:
    """Grow a binary mask by ``radius_mm`` (e.g. a liver mask into a registration region).

    Parameters
    ----------
    mask:
        Binary mask (non-zero = inside).
    radius_mm:
        Dilation radius in millimetres, converted to voxels per axis (at least one voxel when
        positive).

    Returns
    -------
    sitk.Image
        A uint8 mask (1 = inside) on the same grid.
    """
    check_image_geometry(mask, "the mask")
    binary = sitk.Cast(mask != 0, sitk.sitkUInt8)
    if radius_mm <= 0:
        return binary
    radius = [max(1, int(round(radius_mm / s))) for s in mask.GetSpacing()]
    return sitk.BinaryDilate(binary, radius, sitk.sitkBall, 0, 1)


def _working(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """``image`` as float32, averaged over integer bins so that no voxel is much finer than ``spacing_mm``."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    factors = [max(1, int(np.floor(1.1 * spacing_mm / s + 1e-6))) for s in image.GetSpacing()]
    factors = [min(f, n) for f, n in zip(factors, image.GetSize(), strict=True)]
    return sitk.BinShrink(image, factors) if max(factors) > 1 else image


def _fractions(fixed: sitk.Image, fixed_mask: sitk.Image | None, settings: RegistrationSettings,
               shrink_factors: tuple[int, ...]) -> list[float]:
    """Sampling fraction per level that draws about ``metric_samples`` voxels (inside the mask)."""
    inside = 1.0
    if fixed_mask is not None:
        inside = max(float(np.mean(sitk.GetArrayViewFromImage(fixed_mask))), 1e-6)
    fractions = []
    for factor in shrink_factors:
        voxels = float(np.prod([max(1, n // factor) for n in fixed.GetSize()])) * inside
        fractions.append(min(1.0, settings.metric_samples / voxels))
    return fractions


def _method(fixed: sitk.Image, fixed_mask: sitk.Image | None, settings: RegistrationSettings,
            shrink_factors: tuple[int, ...]) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(settings.threads)
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(_fractions(fixed, fixed_mask, settings, shrink_factors),
                                               settings.seed)
    method.SetInterpolator(sitk.sitkLinear)
    # Gradients at the sample points only: a whole-volume gradient image per level costs more than the optimisation.
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    return method


def _stage(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings,
           fixed_mask: sitk.Image | None, levels: int, iterations: int) -> tuple[sitk.Transform, int, str]:
    """One optimisation over the last ``levels`` resolution levels; returns the transform, iterations, stop."""
    shrink_factors = settings.shrink_factors[-levels:]
    method = _method(fixed, fixed_mask, settings, shrink_factors)
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(settings.smoothing_sigmas_mm[-levels:]))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.learning_rate, minStep=settings.minimum_step, numberOfIterations=iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(transform, inPlace=False)
    count = [0]

    def tick() -> None:
        count[0] += 1

    method.AddCommand(sitk.sitkIterationEvent, tick)
    result = method.Execute(fixed, moving)
    return result, count[0], method.GetOptimizerStopConditionDescription()


def _metric(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings,
            fixed_mask: sitk.Image | None) -> float:
    method = _method(fixed, fixed_mask, settings, (1,))
    method.SetInitialTransform(transform, inPlace=False)
    return float(method.MetricEvaluate(fixed, moving))


@contextmanager
def sitk_threads(threads: int) -> Iterator[None]:
    """SimpleITK's default thread count for the filters built inside (the registration's pyramid and metric).

    The count is process-wide: registrations run concurrently must sit inside one such block with the same
    count (as :func:`~hccp53.volumes.multiphase.build_multiphase` does), so that one ending cannot change it
    under another.
    """
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image | None = None,
    settings: RegistrationSettings | None = None,
    label: str = "the moving volume",
) -> tuple[sitk.Euler3DTransform, RegistrationReport]:
    """Rigidly register ``moving`` (one phase) onto ``fixed`` (the reference phase).

    Parameters
    ----------
    fixed:
        The reference volume; the transform maps its physical points into ``moving``.
    moving:
        The volume to align (any grid; contrast may differ from ``fixed``).
    fixed_mask:
        Optional region of ``fixed`` (non-zero = inside) where the metric is evaluated, e.g. a
        dilated liver or body mask (see :func:`dilate_mask`).
    settings:
        Registration settings; None uses :class:`RegistrationSettings` defaults.
    label:
        How to name ``moving`` in messages and logs (e.g. ``"phase 'ap'"``).

    Returns
    -------
    transform:
        The accepted rigid transform, or the identity (centred on ``fixed``) when the result
        was refused.
    report:
        A :class:`RegistrationReport` (metric before/after, translation, rotation, iterations,
        seconds, fallback flag and reason).

    Raises
    ------
    InputError
        A volume or the mask has unusable geometry, the mask is empty, or the volumes do not
        overlap at all.
    """
    settings = settings or RegistrationSettings()
    with sitk_threads(settings.threads):
        return _register_rigid(fixed, moving, fixed_mask, settings, label)


def _register_rigid(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image | None,
                    settings: RegistrationSettings, label: str) -> tuple[sitk.Euler3DTransform, RegistrationReport]:
    check_image_geometry(fixed, "the reference volume")
    check_image_geometry(moving, label)
    check_overlap(moving, fixed, sitk.Transform(3, sitk.sitkIdentity), label)
    for image, name in ((fixed, "the reference volume"), (moving, label)):
        value = constant_value(image)
        if value is not None:
            raise InputError(f"{name} has the same value ({value:g}) in every voxel; there is "
                             "nothing to register (check that its series holds image data).")
    if fixed_mask is not None:
        check_image_geometry(fixed_mask, "the registration mask")
        fixed_mask = sitk.Cast(fixed_mask != 0, sitk.sitkUInt8)
        if not np.any(sitk.GetArrayViewFromImage(fixed_mask)):
            raise InputError("the registration mask is empty; give a mask that covers the liver or the body.")
    clock = time.perf_counter()
    fixed32 = _working(fixed, settings.working_spacing_mm)
    moving32 = _working(moving, settings.working_spacing_mm)
    centre = image_centre(fixed)
    identity = identity_transform(fixed)
    levels = len(settings.shrink_factors)
    before = _metric(fixed32, moving32, identity, settings, fixed_mask)

    failure = None
    iterations = 0
    stop = ""
    try:
        found, n, stop = _stage(fixed32, moving32, sitk.TranslationTransform(3), settings, fixed_mask, levels,
                                settings.translation_iterations)
        iterations += n
        found = rigid_about(found, centre)
        if settings.rigid_levels:
            found, n, stop = _stage(fixed32, moving32, found, settings, fixed_mask, settings.rigid_levels,
                                    settings.rigid_iterations)
            iterations += n
            found = rigid_about(found, centre)
        after = _metric(fixed32, moving32, found, settings, fixed_mask)
    except RuntimeError as error:  # ITK raises RuntimeError when the optimisation cannot go on
        failure = f"the optimisation failed ({str(error).strip().splitlines()[-1]})"
        found, after = identity, before
    params = transform_parameters(found)
    shift = float(np.linalg.norm(params["translation_mm"]))
    angle = params["rotation_angle_deg"]
    if failure is None and not np.all(np.isfinite(params["offset_mm"])):
        failure = "the transform found is not finite"
    elif failure is None and shift > settings.max_translation_mm:
        failure = f"the translation found ({shift:.1f} mm) exceeds {settings.max_translation_mm:g} mm"
    elif failure is None and angle > settings.max_rotation_deg:
        failure = f"the rotation found ({angle:.1f} degrees) exceeds {settings.max_rotation_deg:g} degrees"
    elif failure is None and not after < before:
        failure = f"the metric did not improve on the identity ({after:.4f} vs {before:.4f})"
    elif failure is None and -after < settings.min_mutual_information:
        failure = (f"the volumes share too little information (mutual information {-after:.3f} < "
                   f"{settings.min_mutual_information:g})")
    seconds = time.perf_counter() - clock
    report = RegistrationReport(
        metric=METRIC_NAME, metric_before=before, metric_after=after,
        translation_mm=tuple(params["translation_mm"]), rotation_deg=tuple(params["rotation_deg"]),
        rotation_angle_deg=angle, centre_mm=tuple(params["centre_mm"]), iterations=iterations, seconds=seconds,
        stop_condition=stop, fallback_to_identity=failure is not None, fallback_reason=failure)
    if failure is not None:
        logger.warning("Registration of %s refused, using the identity instead: %s.", label, failure)
        return identity, report
    logger.info("Registered %s: translation (%.2f, %.2f, %.2f) mm, rotation %.2f degrees, metric %.4f -> %.4f, "
                "%d iterations, %.1f s.", label, *params["translation_mm"], angle, before, after, iterations, seconds)
    return found, report
