"""Feature stability under small contour changes: perturbed tumor masks and the intraclass correlation.

Radiomics papers keep only features that a slightly different tumor contour would not change much. Here the
contour is perturbed the way a second reader's would be, by eroding and by dilating the tumor mask by one voxel
(:func:`perturb_mask`); features are extracted inside the original, eroded and dilated masks, and the agreement
of the three measurements over the cases is the intraclass correlation coefficient (:func:`icc`).

The form is **ICC(2,1)** of Shrout & Fleiss (1979), in McGraw & Wong's (1996) terms *two-way random effects,
absolute agreement, single measurement*, which Koo & Li (2016) recommend where the "raters" (here the three
contours) stand for any others that could have been drawn and the values themselves, not only their ranking,
should agree. ICC(3,1) (two-way mixed, consistency) is available for comparison. Koo & Li read an ICC below 0.5
as poor, 0.5-0.75 moderate, 0.75-0.9 good and above 0.9 excellent reliability; 0.75 is the usual cut-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from hccp53.errors import ConfigError, InputError

Perturbation = Literal["erode", "dilate"]
PERTURBATIONS: tuple[Perturbation, ...] = ("erode", "dilate")
IccForm = Literal["2,1", "3,1"]
#: Features whose ICC falls below this are unstable (Koo & Li 2016: below 0.75 is at most moderate reliability).
DEFAULT_ICC_THRESHOLD = 0.75
#: Fewer cases than this give an ICC too uncertain to filter on (Koo & Li 2016 ask for at least 30).
MIN_ICC_CASES = 10


def perturb_mask(mask: sitk.Image, how: Perturbation, label: int = 1) -> sitk.Image:
    """The tumor mask eroded or dilated by one voxel, on the same grid.

    The structuring element is the 3D cross (6-connected neighbours): one voxel along each axis of the mask's own
    grid, whatever its spacing. Every voxel other than ``label`` counts as background, and the result holds
    ``label`` in the tumor and 0 elsewhere.

    Raises
    ------
    ConfigError
        ``how`` is neither ``erode`` nor ``dilate``.
    """
    if how not in PERTURBATIONS:
        raise ConfigError(f"Mask perturbation {how!r} is not one of {', '.join(PERTURBATIONS)}.")
    tumor = sitk.GetArrayFromImage(mask) == label
    cross = ndimage.generate_binary_structure(tumor.ndim, 1)
    if how == "erode":
        # outside the image counts as background, so that a tumor touching the border shrinks there too
        changed = ndimage.binary_erosion(tumor, structure=cross, border_value=0)
    else:
        changed = ndimage.binary_dilation(tumor, structure=cross)
    out = sitk.GetImageFromArray(changed.astype(np.uint8) * np.uint8(label))
    out.CopyInformation(mask)
    return out


def icc(ratings: np.ndarray, form: IccForm = "2,1") -> np.ndarray:
    """Intraclass correlation of ``n`` cases each measured by ``k`` raters, for many features at once.

    From the two-way ANOVA without replication (cases x raters): with the mean squares of cases ``MSR``, of
    raters ``MSC`` and of the residual ``MSE``,

    - ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)   (absolute agreement);
    - ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE)                        (consistency).

    Parameters
    ----------
    ratings
        Shape ``(n, k)`` for one feature or ``(n, k, p)`` for ``p`` features; no missing values.
    form
        ``"2,1"`` or ``"3,1"`` (Shrout & Fleiss' notation).

    Returns
    -------
    numpy.ndarray
        The ICC of each feature (a 0-d array for one feature); NaN where the feature does not vary at all.

    Raises
    ------
    InputError
        Fewer than two cases or raters, or a missing or infinite value.
    """
    if form not in ("2,1", "3,1"):
        raise ConfigError(f"ICC form {form!r} is not one of 2,1 and 3,1.")
    x = np.asarray(ratings, dtype=float)
    if x.ndim not in (2, 3):
        raise InputError(f"ICC ratings must have 2 or 3 dimensions (cases, raters[, features]), not {x.ndim}.")
    n, k = x.shape[:2]
    if n < 2 or k < 2:
        raise InputError(f"The ICC needs at least two cases and two raters, not {n} and {k}.")
    if not np.isfinite(x).all():
        raise InputError("The ICC ratings hold a missing or infinite value.")
    grand = x.mean(axis=(0, 1))
    case_means, rater_means = x.mean(axis=1), x.mean(axis=0)
    ss_rows = k * ((case_means - grand) ** 2).sum(axis=0)
    ss_cols = n * ((rater_means - grand) ** 2).sum(axis=0)
    ss_error = ((x - grand) ** 2).sum(axis=(0, 1)) - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = np.maximum(ss_error, 0.0) / ((n - 1) * (k - 1))
    if form == "2,1":
        denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    else:
        denominator = msr + (k - 1) * mse
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (msr - mse) / np.where(denominator > 0, denominator, 1.0), np.nan)


def feature_icc(original: pd.DataFrame, perturbed: Sequence[pd.DataFrame], form: IccForm = "2,1") -> pd.Series:
    """ICC of every feature of ``original`` across it and its ``perturbed`` extractions, over their common cases.

    The ICC is computed over rows of ``original`` only (pass the training rows alone). A case that lacks a
    perturbed extraction, or whose perturbed extraction failed (a row without any value), is left out; a feature
    with a missing or infinite value in a remaining case gets NaN (it counts as unstable).

    Raises
    ------
    InputError
        No perturbed extraction, a feature missing from one, or fewer than :data:`MIN_ICC_CASES` usable cases.
    """
    if not perturbed:
        raise InputError("The ICC filter needs features from at least one perturbed mask.")
    names = list(original.columns)
    for table in perturbed:
        missing = [n for n in names if n not in table.columns]
        if missing:
            raise InputError(f"Features {', '.join(missing[:3])} are missing from a perturbed-mask extraction; "
                             "extract it with the same settings and phases.")  # fmt: skip
    rows = original.index
    for table in perturbed:
        rows = rows.intersection(table.index, sort=False)
    stack = np.stack([original.loc[rows, names].to_numpy(float)]
                     + [t.loc[rows, names].to_numpy(float) for t in perturbed], axis=1)  # fmt: skip
    measured = np.isfinite(stack).any(axis=2).all(axis=1)  # every mask gave this case some feature
    if measured.sum() < MIN_ICC_CASES:
        raise InputError(f"Only {int(measured.sum())} training cases have features from every perturbed mask; the "
                         f"ICC filter needs at least {MIN_ICC_CASES} (or switch it off).")  # fmt: skip
    stack = stack[measured]
    usable = np.isfinite(stack).all(axis=(0, 1))
    values = np.full(len(names), np.nan)
    values[usable] = icc(stack[:, :, usable], form)
    return pd.Series(values, index=names, name=f"ICC({form})")


def feature_phase(name: str) -> str:
    """The phase a feature name starts with (``ap_wavelet-LLH_glcm_Idm`` -> ``ap``; ``shape_...`` -> ``shape``)."""
    return name.split("_", 1)[0]
