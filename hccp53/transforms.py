"""The one preprocessing definition shared by training, the Deploy app and MONAI Label.

Every consumer builds its pipeline from these functions, so that a network sees the same tensor
whether the phases come from NIfTI files (bundle training and evaluation), from DICOM series
turned into volumes in memory (the app) or from a MONAI Label request:

- :func:`phase_preprocessing`: phases (channel-first, one voxel grid) -> one ``image`` tensor in
  RAS orientation, resampled to a fixed spacing, each phase scaled by its own percentiles.
- :func:`segmentation_transforms`: what the tumor segmentation network is trained and run on.
- :func:`classifier_transforms`: a tumor-centred crop of fixed physical size for the P53 classifier: each
  phase scaled by its percentiles on its own grid, then only the crop resampled (not the whole volume).

Keys: the phases are the datalist keys (``t2``, ``ap``, ``pvp`` ...), ``mask`` is the tumor mask and
``label`` the P53 label. The segmentation pipelines put the tumor mask under ``label`` (what MONAI
engines and losses expect); :func:`hccp53.data.datalist.segmentation_cases` does that renaming.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    ConcatItemsd,
    DeleteItemsd,
    EnsureTyped,
    Lambdad,
    LoadImaged,
    MapTransform,
    Orientationd,
    RandAdjustContrastd,
    RandBiasFieldd,
    RandCropByLabelClassesd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSpatialCropd,
    ScaleIntensityRangePercentiles,
    ScaleIntensityRangePercentilesd,
    Spacingd,
    SpatialPadd,
    SpatialResample,
)
from scipy import ndimage

from hccp53.nets.fusion import check_phases

IMAGE = "image"
MASK = "mask"
LABEL = "label"
#: Key of the liver mask (liver parenchyma and tumor) when the segmentation network also learns the liver.
LIVER = "liver"
#: Output classes of the segmentation network, without and with a liver output (tumor is always last).
TUMOR_CLASSES = ("background", "tumor")
LIVER_TUMOR_CLASSES = ("background", "liver", "tumor")
#: Key holding the point (RAS world coordinates, mm) a classifier crop is centred on.
CENTRE = "crop_centre"

#: Pipeline modes: training (random crops, augmentation), validation (files in), inference (tensors in).
MODES = ("train", "validate", "infer")
#: Percentiles of each phase mapped to 0 and 1 (vendor scaling and receive gain differ).
PERCENTILES = (0.5, 99.5)


def sitk_to_metatensor(image: sitk.Image) -> MetaTensor:
    """Return a channel-first ``(1, X, Y, Z)`` :class:`MetaTensor` with the RAS affine MONAI's NIfTI reader gives.

    SimpleITK stores LPS physical coordinates and ``(z, y, x)`` arrays; NIfTI (and MONAI) use RAS and
    ``(x, y, z)``. The app uses this to feed in-memory volumes through the same transforms as training.
    """
    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    affine[:3, 3] = image.GetOrigin()
    affine[:2] *= -1.0  # LPS -> RAS
    data = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 1, 0)))[None]
    return MetaTensor(data, affine=torch.from_numpy(affine), meta={"space": "RAS"})


def phase_preprocessing(
    phases: Sequence[str],
    spacing: Sequence[float],
    with_mask: bool = False,
    mask_key: str = MASK,
    keep_phases: bool = False,
) -> list[Any]:
    """Transforms from channel-first phase tensors on one grid to the normalised ``image``.

    Parameters
    ----------
    phases
        Phase keys, in channel order.
    spacing
        Output voxel spacing in mm (RAS x, y, z).
    with_mask
        Also reorient and resample ``mask_key`` (nearest neighbour).
    mask_key
        Key of the tumor mask.
    keep_phases
        Keep the phase tensors (on their own grid) beside ``image``, as inference needs them for the
        classifier's crop; otherwise they are dropped to save memory.
    """
    phases = list(check_phases(phases))
    spatial_keys = [IMAGE, mask_key] if with_mask else [IMAGE]
    return [
        ConcatItemsd(keys=phases, name=IMAGE, dim=0),
        *([] if keep_phases else [DeleteItemsd(keys=phases)]),
        EnsureTyped(keys=spatial_keys, dtype=torch.float32, track_meta=True),
        Orientationd(keys=spatial_keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
        Spacingd(
            keys=spatial_keys,
            pixdim=tuple(float(s) for s in spacing),
            mode=("bilinear", "nearest")[: len(spatial_keys)],
            padding_mode="zeros",
        ),  # fmt: skip
        ScalePercentilesd(
            keys=IMAGE, lower=PERCENTILES[0], upper=PERCENTILES[1], b_min=0.0, b_max=1.0, channel_wise=True
        ),
    ]


def native_preprocessing(phases: Sequence[str], with_mask: bool = False, mask_key: str = MASK) -> list[Any]:
    """Transforms from channel-first phase tensors on one grid to ``image``, scaled but not resampled.

    Like :func:`phase_preprocessing` without the resampling: the phases are stacked, turned to RAS and each
    is scaled by its own percentiles on its own voxel grid. The classifier resamples only its crop
    (:class:`LesionResampled`), which is far cheaper than resampling whole volumes at 2 mm.
    """
    phases = list(check_phases(phases))
    spatial_keys = [IMAGE, mask_key] if with_mask else [IMAGE]
    return [
        ConcatItemsd(keys=phases, name=IMAGE, dim=0),
        DeleteItemsd(keys=phases),
        EnsureTyped(keys=spatial_keys, dtype=torch.float32, track_meta=True),
        Orientationd(keys=spatial_keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
        ScalePercentilesd(
            keys=IMAGE, lower=PERCENTILES[0], upper=PERCENTILES[1], b_min=0.0, b_max=1.0, channel_wise=True
        ),
    ]


class NumpyPercentiles(ScaleIntensityRangePercentiles):
    """MONAI's percentile scaling with the percentiles always taken by numpy.

    MONAI takes them with ``torch.quantile`` for tensors up to a million voxels (pytorch#64947 keeps it
    from larger ones), which sorts: on a 122 x 122 x 67 phase at 3 mm that is four times slower than
    ``np.percentile``'s partition (0.13 vs 0.03 s here, twice per phase). Both interpolate linearly, so
    the scaled values agree to float32 rounding.
    """

    def _normalize(self, img: Any) -> Any:
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else img
        return super()._normalize(array)


class ScalePercentilesd(ScaleIntensityRangePercentilesd):
    """:class:`~monai.transforms.ScaleIntensityRangePercentilesd` with :class:`NumpyPercentiles` inside."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.scaler
        self.scaler = NumpyPercentiles(s.lower, s.upper, s.b_min, s.b_max, s.clip, s.relative, s.channel_wise,
                                       s.dtype)  # fmt: skip


def load_phases(phases: Sequence[str], with_mask: bool = False, mask_key: str = MASK) -> LoadImaged:
    """Read the NIfTI files of a datalist entry as channel-first tensors (training and evaluation)."""
    keys = [*check_phases(phases), *([mask_key] if with_mask else [])]
    return LoadImaged(keys=keys, ensure_channel_first=True, image_only=True, reader="NibabelReader")


def connected_components(mask: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """26-connected components of ``mask`` (``(X, Y, Z)`` or ``(1, X, Y, Z)``, tumor where > 0.5).

    Returns the ``(X, Y, Z)`` component map (0 = background, 1 .. n) and the voxel count of each component.
    """
    array = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
    labels, count = ndimage.label(array.reshape(array.shape[-3:]) > 0.5, structure=np.ones((3, 3, 3), dtype=bool))
    return labels, np.bincount(labels.ravel(), minlength=count + 1)[1:]


def lesion_centroid_mm(mask: MetaTensor) -> np.ndarray | None:
    """RAS world coordinates (mm) of the centroid of the largest connected lesion in ``mask`` (``None`` if empty)."""
    labels, sizes = connected_components(mask)
    if len(sizes) == 0:
        return None
    centroid = np.asarray(ndimage.center_of_mass(labels == int(np.argmax(sizes)) + 1), dtype=np.float64)
    affine = np.asarray(mask.affine, dtype=np.float64)
    return affine[:3, :3] @ centroid + affine[:3, 3]


class LesionResampled(MapTransform):
    """Resample ``keys`` onto a ``size`` box of ``spacing`` mm centred on a lesion (zeros outside the volume).

    The box's axes are those of the image's own voxel grid (so a study tilted as a whole gives the same box
    of the same anatomy, as resampling the whole volume did) and it is centred on the point (RAS world, mm)
    under ``centre_key`` when present (the app passes each lesion's centroid there), else on the centroid of
    the largest connected component of ``mask_key``, moved to the nearest voxel centre of the image
    (``snap``), so that a segmentation a voxel or two larger or smaller does not move the box. Images are
    interpolated linearly, ``mask_key`` by nearest neighbour. Only the box is computed, so the cost does not
    depend on the size of the volume.

    Raises
    ------
    ValueError
        If neither a centre nor a non-empty mask is available.
    """

    def __init__(self, keys: KeysCollection, spacing: Sequence[float], size: Sequence[int], mask_key: str = MASK,
                 centre_key: str = CENTRE, snap: bool = True) -> None:  # fmt: skip
        super().__init__(keys)
        self.snap = bool(snap)
        self.spacing = np.asarray([float(s) for s in spacing], dtype=np.float64)
        self.size = tuple(int(s) for s in size)
        self.mask_key = mask_key
        self.centre_key = centre_key

    def box_affine(self, centre_mm: np.ndarray, reference: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The RAS affine of the box whose voxel ``size // 2`` lies on ``centre_mm``, axes those of ``reference``.

        (Voxel ``size // 2`` is the centre of an odd box and the first voxel past the middle of an even one, as
        in MONAI's centre crop; on the centre, not half a voxel beside it, so that a box of the image's own
        spacing takes its voxels without interpolating them.)
        """
        reference = np.asarray(reference, dtype=np.float64)
        directions = reference[:3, :3] / np.linalg.norm(reference[:3, :3], axis=0)
        affine = np.eye(4)
        affine[:3, :3] = directions * self.spacing
        half = (np.asarray(self.size) // 2) * self.spacing
        affine[:3, 3] = np.asarray(centre_mm, dtype=np.float64) - directions @ half
        return torch.from_numpy(affine)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        centre = d.get(self.centre_key)
        if centre is None:
            if self.mask_key not in d:
                raise ValueError(f"LesionResampled needs {self.centre_key!r} or {self.mask_key!r} in the data.")
            centre = lesion_centroid_mm(d[self.mask_key])
            if centre is None:
                raise ValueError("The tumor mask is empty: no lesion to crop around.")
        centre = np.asarray(centre, dtype=np.float64)
        keys = list(self.key_iterator(d))
        reference = np.asarray(d[keys[0]].affine, dtype=np.float64)
        if self.snap:
            voxel = np.linalg.solve(reference[:3, :3], centre - reference[:3, 3])
            centre = reference[:3, :3] @ np.round(voxel) + reference[:3, 3]
        affine = self.box_affine(centre, reference)
        for key in keys:
            mode = "nearest" if key == self.mask_key else "bilinear"
            resampled = SpatialResample(mode=mode, padding_mode="zeros", dtype=torch.float32)(
                d[key], dst_affine=affine, spatial_size=self.size)  # fmt: skip
            d[key] = resampled.float() if isinstance(resampled, torch.Tensor) else torch.as_tensor(resampled).float()
        d[self.centre_key] = tuple(float(c) for c in centre)
        return d


def _as_class(mask: torch.Tensor, value: float) -> torch.Tensor:
    """A 0/1 mask with its ones turned into class ``value`` (meta data kept)."""
    return (mask > 0.5) * value


def segmentation_classes(liver: bool) -> tuple[str, ...]:
    """The segmentation network's output classes: background and tumor, with liver between them when ``liver``."""
    return LIVER_TUMOR_CLASSES if liver else TUMOR_CLASSES


class MergeLiverd(MapTransform):
    """Fold the liver mask under ``liver_key`` into the tumor mask under ``label_key``: 0 background, 1 liver,
    2 tumor (a tumor voxel is tumor whether or not the liver mask covers it). ``liver_key`` is removed.

    Raises
    ------
    ValueError
        If the two masks do not share one voxel grid.
    """

    def __init__(self, label_key: str = LABEL, liver_key: str = LIVER) -> None:
        super().__init__([label_key, liver_key])
        self.label_key, self.liver_key = label_key, liver_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        tumor, liver = d[self.label_key], d.pop(self.liver_key)
        if tuple(tumor.shape) != tuple(liver.shape):
            raise ValueError(f"The liver mask {tuple(liver.shape)} and the tumor mask {tuple(tumor.shape)} are not on "
                             "one voxel grid.")  # fmt: skip
        classes = torch.maximum(torch.as_tensor(liver > 0.5, dtype=torch.float32),
                                2.0 * torch.as_tensor(tumor > 0.5, dtype=torch.float32))  # fmt: skip
        merged = tumor.clone().float()
        merged.copy_(classes)
        d[self.label_key] = merged
        return d


def segmentation_transforms(
    phases: Sequence[str],
    spacing: Sequence[float],
    mode: str,
    patch_size: Sequence[int] = (48, 48, 32),
    samples_per_case: int = 2,
    keep_phases: bool = False,
    augmentation: str = "standard",
    liver: bool = False,
    tumor_class: int = 1,
) -> Compose:
    """Pipeline of the tumor segmentation network.

    Parameters
    ----------
    phases, spacing
        As in :func:`phase_preprocessing`.
    mode
        ``"train"`` (random tumor/background patches and augmentation), ``"validate"`` (whole volume,
        mask under ``label``) or ``"infer"`` (whole volume, no mask; the phases are already tensors).
    patch_size
        Training patch in voxels at ``spacing``.
    samples_per_case
        Training patches drawn from each case (half centred on tumor, half on background).
    keep_phases
        Keep the phase tensors beside ``image`` (see :func:`phase_preprocessing`).
    augmentation
        Training augmentation (:data:`AUGMENTATIONS`): ``standard`` (flips, rotations, intensity scale and
        shift) or ``strong`` (adds noise, bias field, gamma and blur on the image, never on the mask).
    liver
        Train or validate a liver output too: the case's liver mask under ``liver``
        (:func:`hccp53.data.datalist.segmentation_cases` with ``liver=True``) is folded into ``label``
        (0 background, 1 liver, 2 tumor; :class:`MergeLiverd`), and training patches are centred on tumor,
        liver and background in the ratio 2 : 1 : 1, so that as many patches hold tumor as without a liver output.
    tumor_class
        Without ``liver``: the class a tumor voxel of the mask becomes (1; the last class of a network with a
        liver output, 2, when tumor-only masks fine-tune it: MONAI Label's saved labels).

    Raises
    ------
    ValueError
        For an unknown ``mode`` or ``augmentation``.
    """
    _check_mode(mode)
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}.")
    with_mask = mode != "infer"
    steps: list[Any] = [] if mode == "infer" else [load_phases(phases, with_mask=True, mask_key=LABEL)]
    if liver and mode != "infer":
        steps += [LoadImaged(keys=LIVER, ensure_channel_first=True, image_only=True, reader="NibabelReader"),
                  MergeLiverd(LABEL, LIVER)]  # fmt: skip
    elif tumor_class != 1 and mode != "infer":
        steps.append(Lambdad(keys=LABEL, func=functools.partial(_as_class, value=float(tumor_class))))
    steps += phase_preprocessing(phases, spacing, with_mask=with_mask, mask_key=LABEL, keep_phases=keep_phases)
    if mode == "train":
        crop_options = dict(keys=[IMAGE, LABEL], label_key=LABEL, spatial_size=tuple(patch_size),
                            num_samples=samples_per_case, image_key=IMAGE, image_threshold=0.0)  # fmt: skip
        crop = (RandCropByLabelClassesd(num_classes=len(LIVER_TUMOR_CLASSES), ratios=[1, 1, 2], **crop_options)
                if liver else RandCropByPosNegLabeld(pos=1, neg=1, **crop_options))  # fmt: skip
        steps += [SpatialPadd(keys=[IMAGE, LABEL], spatial_size=tuple(patch_size)), crop,
                  *_augmentation([IMAGE, LABEL], augmentation)]  # fmt: skip
    return Compose(steps)


def classifier_transforms(
    phases: Sequence[str],
    spacing: Sequence[float],
    crop_size: Sequence[int],
    mode: str,
    jitter: int = 4,
    mask_channel: bool = False,
    augmentation: str = "standard",
) -> Compose:
    """Pipeline of the P53 classifier: a ``crop_size`` box at ``spacing`` centred on the tumor.

    Parameters
    ----------
    phases, spacing
        As in :func:`phase_preprocessing`.
    crop_size
        Crop in voxels.
    mode
        ``"train"`` (crop centre jittered by up to ``jitter`` voxels, flips, rotations, intensity
        augmentation), ``"validate"`` (files in, exact crop) or ``"infer"`` (tensors in, exact crop; the
        centre from ``crop_centre`` or the mask).
    jitter
        Maximum shift of the training crop centre, in voxels along each axis.
    mask_channel
        Append the tumor mask (0/1) as a last input channel after the phases; see :func:`lesion_crop`.
    augmentation
        Training only: ``"standard"`` or ``"strong"`` (see :data:`AUGMENTATIONS`).

    Notes
    -----
    Each phase is scaled by its percentiles on its own voxel grid (:func:`native_preprocessing`), then
    only a box around the tumor is resampled to ``spacing`` (:class:`LesionResampled`). Everything up to
    that box is deterministic, so a ``CacheDataset`` caches it; the box is ``2 * jitter`` voxels larger
    than ``crop_size`` and the last step cuts ``crop_size`` out of it (at random when training, in the
    centre otherwise), so all modes centre identically.
    """
    _check_mode(mode)
    steps: list[Any] = [] if mode == "infer" else [load_phases(phases, with_mask=True)]
    steps += native_preprocessing(phases, with_mask=True)
    steps += lesion_crop(crop_size, spacing, mode, jitter, mask_channel, augmentation)
    return Compose(steps)


def lesion_crop(
    crop_size: Sequence[int], spacing: Sequence[float], mode: str, jitter: int = 4, mask_channel: bool = False,
    augmentation: str = "standard",
) -> list[Any]:
    """The crop steps of :func:`classifier_transforms`, for ``image`` and ``mask`` from :func:`native_preprocessing`.

    The app preprocesses a study once and crops each lesion with these steps (see
    :class:`hccp53.inference.LesionClassifier`); the result is what :func:`classifier_transforms` gives.

    With ``mask_channel`` the mask is resampled, cropped, flipped and rotated with the image and becomes its
    last channel (the intensity augmentation leaves it alone); the crop is centred on ``crop_centre`` (RAS,
    mm) when given, so the app can centre on one lesion while the channel shows every lesion in the crop,
    as the training masks do.
    """
    _check_mode(mode)
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}.")
    size = tuple(int(s) for s in crop_size)
    margin = tuple(s + 2 * int(jitter) for s in size)
    spatial = [IMAGE, MASK] if mask_channel else [IMAGE]
    steps: list[Any] = [LesionResampled(keys=spatial, spacing=spacing, size=margin)]
    if not mask_channel:
        steps.append(DeleteItemsd(keys=[MASK]))
    if mode == "train":
        steps += [RandSpatialCropd(keys=spatial, roi_size=size, random_size=False),
                  *_augmentation(spatial, augmentation)]  # fmt: skip
    else:
        steps.append(CenterSpatialCropd(keys=spatial, roi_size=size))
    if mask_channel:
        steps += [ConcatItemsd(keys=[IMAGE, MASK], name=IMAGE, dim=0), DeleteItemsd(keys=[MASK])]
    return steps


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")


#: Training augmentations of the classifier and the segmentation network. ``standard``: flips, axial 90-degree
#: rotations, per-channel intensity scale and shift. ``strong`` adds what differs between scanners and
#: protocols: noise, a smooth bias field, contrast (gamma) changes and blur (thicker slices, a coarser matrix),
#: each on a third of the crops; never a change of scale, since the tumor's size is itself a sign.
AUGMENTATIONS = ("standard", "strong")


def _augmentation(keys: list[str], augmentation: str = "standard") -> list[Any]:
    """The training augmentation named ``augmentation`` (:data:`AUGMENTATIONS`); intensity steps on the image only."""
    steps = [
        RandFlipd(keys=keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys=keys, prob=0.5, spatial_axis=1),
        RandRotate90d(keys=keys, prob=0.5, max_k=3, spatial_axes=(0, 1)),
        RandScaleIntensityd(keys=IMAGE, factors=0.1, prob=0.5, channel_wise=True),
        RandShiftIntensityd(keys=IMAGE, offsets=0.05, prob=0.5, channel_wise=True),
    ]
    if augmentation == "strong":
        steps += [
            RandBiasFieldd(keys=IMAGE, coeff_range=(0.0, 0.3), prob=0.33),
            RandAdjustContrastd(keys=IMAGE, gamma=(0.7, 1.5), prob=0.33),
            RandGaussianSmoothd(keys=IMAGE, sigma_x=(0.25, 1.0), sigma_y=(0.25, 1.0), sigma_z=(0.25, 1.5), prob=0.33),
            RandGaussianNoised(keys=IMAGE, std=0.05, prob=0.33),
        ]
    return steps
