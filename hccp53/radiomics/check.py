"""Evidence for the radiomics settings: does the tumor survive the preprocessing, and how many grey levels does
each filtered image get inside it?

:func:`preprocessing_report` runs pyradiomics' own preprocessing (normalisation, outlier removal, resampling) and
filters (:mod:`radiomics.imageoperations`) with a settings file and reports, per image type, the number of bins
the discretisation gives inside the tumor mask and the fraction of tumor voxels that outlier removal clipped.
A texture matrix of fewer than about 16 grey levels is degenerate, one of more than 128 mostly empty;
``tests/radiomics/test_settings.py`` holds ``configs/radiomics.yaml`` to that range on synthetic studies.
:func:`check_cohort` runs the report on every case and phase of a datalist and flags each case whose tumor was
clipped or whose grey levels fall outside :data:`BIN_RANGE` on some image type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from hccp53 import DEFAULT_PHASES
from hccp53.radiomics.extract import DEFAULT_SETTINGS, _extractor

#: Grey levels inside the tumor that give a usable texture matrix, on every image type.
BIN_RANGE = (16, 128)


def preprocessing_report(image: sitk.Image, mask: sitk.Image, settings: Path | str = DEFAULT_SETTINGS
                         ) -> dict[str, Any]:  # fmt: skip
    """What pyradiomics' preprocessing and discretisation do to the tumor of one image.

    Returns
    -------
    dict
        ``clipped_fraction``: the share of tumor voxels outlier removal set to its limit (0 without it);
        ``bins``: image type (``original``, ``log-sigma-2-0-mm-3D``, ``wavelet-LLH`` ...) -> number of bins
        inside the tumor.
    """
    from radiomics import imageoperations

    extractor = _extractor(Path(settings))
    kwargs = dict(extractor.settings)
    label = kwargs.get("label", 1)
    image, mask = extractor.loadImage(image, mask, None, **kwargs)
    inside = sitk.GetArrayViewFromImage(mask) == label
    tumor = sitk.GetArrayViewFromImage(image)[inside]
    clip = kwargs.get("removeOutliers")
    limit = None if clip is None else clip * kwargs.get("normalizeScale", 1)
    clipped = 0.0 if limit is None else float(np.mean(np.abs(tumor) >= limit * (1 - 1e-6)))
    bins: dict[str, int] = {}
    for image_type, custom in extractor.enabledImagetypes.items():
        options = {**kwargs, **custom}
        filters = getattr(imageoperations, f"get{image_type}Image")(image, mask, **options)
        for filtered, name, _ in filters:
            values = sitk.GetArrayViewFromImage(filtered)[inside]
            bins[name] = len(imageoperations.getBinEdges(values, **options)) - 1
    return {"clipped_fraction": clipped, "bins": bins}


def check_cohort(datalist: Path | str, phases: Sequence[str] = DEFAULT_PHASES,
                 settings: Path | str = DEFAULT_SETTINGS, part: str = "training", cases: int | None = None
                 ) -> pd.DataFrame:  # fmt: skip
    """:func:`preprocessing_report` for every case (the first ``cases`` of them) and phase of a datalist part.

    Returns
    -------
    pandas.DataFrame
        One row per case and phase: ``case_id``, ``phase``, ``clipped_fraction``, ``min_bins`` and ``max_bins``
        over the image types, ``outside`` (the image types whose bins fall outside :data:`BIN_RANGE`, ``;``-joined)
        and ``ok`` (nothing clipped, every image type inside the range).
    """
    from hccp53.data.datalist import select_cases

    low, high = BIN_RANGE
    rows = []
    for case in select_cases(datalist, part)[:cases]:
        mask = sitk.ReadImage(str(case["mask"]))
        for phase in phases:
            image = sitk.ReadImage(str(case[phase]), sitk.sitkFloat32)
            report = preprocessing_report(image, mask, settings)
            outside = [name for name, n in report["bins"].items() if not low <= n <= high]
            rows.append({"case_id": str(case["case_id"]), "phase": phase,
                         "clipped_fraction": report["clipped_fraction"], "min_bins": min(report["bins"].values()),
                         "max_bins": max(report["bins"].values()), "outside": ";".join(outside),
                         "ok": report["clipped_fraction"] == 0.0 and not outside})  # fmt: skip
    return pd.DataFrame(rows)
