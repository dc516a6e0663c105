"""Read and check a prepared datalist before any training starts (``DESIGN.md``: prepared training data).

A datalist is what ``hccp53 synth`` and ``hccp53 prepare`` write: lists ``training`` (each case with
its cross-validation ``fold``) and ``test`` of cases ``{"case_id", <phase>: path, "mask": path,
"label": 0|1, ...}``, paths relative to the datalist file. The bundle configs call
:func:`classifier_cases` and :func:`segmentation_cases`; both check everything a run depends on
(files present, one voxel grid per case, labels 0/1, both classes present) and raise
:class:`~hccp53.errors.InputError` with one sentence otherwise.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from hccp53 import PHASES, parse_phases
from hccp53.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

#: Keys besides the phases whose values are file paths relative to the datalist.
_FILE_KEYS = ("mask", "liver_mask")
#: What a run can select from a datalist.
PARTS = ("train", "val", "training", "test")
#: Grid tolerances: spacing (relative), origin (mm), direction cosines.
_SPACING_RTOL, _ORIGIN_MM, _DIRECTION_ATOL = 1e-4, 1e-2, 1e-4


def _read(path: str) -> tuple[dict[str, Any], ...]:
    """The datalist's cases, each tagged with its ``_section`` (re-read when the file changes)."""
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        stat = None
    return _read_cached(path, None if stat is None else (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, version: tuple[int, int] | None) -> tuple[dict[str, Any], ...]:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"Datalist {file} does not exist; write one with `hccp53 synth` or `hccp53 prepare`.")
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"Datalist {file} is not readable JSON ({error}).") from error
    if not isinstance(content, dict) or not isinstance(content.get("training"), list):
        raise InputError(f"Datalist {file} has no 'training' list; is it a MONAI datalist?")
    for section in ("training", "test"):
        cases = content.get(section, [])
        if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
            raise InputError(f"Datalist {file}: '{section}' must be a list of cases (objects with case_id, phases).")
    return tuple({"_section": section, **case} for section in ("training", "test") for case in content.get(section, []))


def select_cases(datalist: str | Path, part: str, fold: int = 0, held_out: int | None = None) -> list[dict[str, Any]]:
    """Cases of one part of the datalist, paths made absolute.

    Parameters
    ----------
    datalist
        Path of the datalist JSON.
    part
        ``"train"`` (training cases outside ``fold`` and ``held_out``), ``"val"`` (training cases in ``fold``),
        ``"training"`` (all training cases) or ``"test"``.
    fold
        Validation fold for ``train`` / ``val``.
    held_out
        A fold left out of ``train`` as well (``hccp53 train classifier --fold all``: the fold a network scores
        for the out-of-fold predictions, untouched by its training and its validation); None leaves none out.

    Raises
    ------
    InputError
        If the datalist is unreadable, a case lacks ``fold`` while folds are asked for, or the part is empty.
    ConfigError
        For an unknown part.
    """
    if part not in PARTS:
        raise ConfigError(f"Unknown datalist part {part!r}; choose one of {list(PARTS)}.")
    path = Path(datalist).resolve()
    section = "test" if part == "test" else "training"
    cases = [dict(c) for c in _read(str(path)) if c["_section"] == section]
    if part in ("train", "val"):
        missing = [c.get("case_id", "?") for c in cases if type(c.get("fold")) is not int]
        if missing:
            raise InputError(
                f"Case {missing[0]} in {path.name} has no whole-number 'fold'; regenerate the datalist with "
                "`hccp53 prepare` or `hccp53 synth`, or train on part 'training'."
            )
        if held_out is not None and int(held_out) == int(fold):
            raise ConfigError(f"The held-out fold {held_out} cannot also be the validation fold; validate on another.")
        if part == "val":
            cases = [c for c in cases if int(c["fold"]) == int(fold)]
        else:
            left_out = {int(fold)} | (set() if held_out is None else {int(held_out)})
            cases = [c for c in cases if int(c["fold"]) not in left_out]
    if not cases:
        raise InputError(f"Datalist {path.name} has no {part} cases (fold {fold}); check its folds and the fold given.")
    for case in cases:
        del case["_section"]
        for key in (*PHASES, *_FILE_KEYS):
            if isinstance(case.get(key), str):
                case[key] = str((path.parent / case[key]).resolve())
    return cases


def _grid(path: str) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(f"{path} is not a readable image ({str(error).strip().splitlines()[-1]}).") from error
    return (
        tuple(reader.GetSize()),
        np.asarray(reader.GetSpacing()),
        np.asarray(reader.GetOrigin()),
        np.asarray(reader.GetDirection()),
    )


def same_grid(a: tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray],
              b: tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]) -> bool:
    """Whether two (size, spacing, origin, direction) grids are one voxel grid, within the tolerances that
    NIfTI's float32 header fields allow."""
    return (a[0] == b[0] and np.allclose(a[1], b[1], rtol=_SPACING_RTOL) and np.allclose(a[2], b[2], atol=_ORIGIN_MM)
            and np.allclose(a[3], b[3], atol=_DIRECTION_ATOL))  # fmt: skip


def _describe(grid: tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]) -> str:
    size, spacing, origin, direction = grid
    return (f"size {list(size)}, spacing {np.round(spacing, 3).tolist()}, origin {np.round(origin, 2).tolist()}, "
            f"direction {np.round(direction, 3).tolist()}")


def check_cases(cases: Sequence[dict[str, Any]], keys: Sequence[str], labels: bool = True) -> None:
    """Check that each case has readable files under ``keys`` on one voxel grid and (optionally) a 0/1 label.

    Raises
    ------
    InputError
        Naming the first case and key at fault, or saying that only one class is present.
    """
    for case in cases:
        case_id = case.get("case_id", "?")
        grids = {}
        for key in keys:
            if key not in case:
                raise InputError(f"Case {case_id} has no {key!r}; every case needs {list(keys)}.")
            if not Path(case[key]).is_file():
                raise InputError(f"Case {case_id}: {key} file {case[key]} does not exist.")
            grids[key] = _grid(case[key])
        first_key, first = next(iter(grids.items()))
        for key, grid in grids.items():
            if not same_grid(grid, first):
                raise InputError(
                    f"Case {case_id}: {key} ({_describe(grid)}) is not on the voxel grid of {first_key} "
                    f"({_describe(first)}); resample every phase and the mask onto one grid (`hccp53 prepare` does)."
                )
        if labels and (type(case.get("label")) is not int or case["label"] not in (0, 1)):
            label = case.get("label")
            raise InputError(f"Case {case_id} has label {label!r}; labels must be 0 (wild-type) or 1 (mutated).")
    if labels and cases and len({case["label"] for case in cases}) < 2:
        raise InputError(
            f"All {len(cases)} cases have label {cases[0]['label']}; a classifier needs both classes in every part."
        )


INCOMPLETE = ("error", "skip")


def complete_cases(cases: Sequence[dict[str, Any]], keys: Sequence[str], part: str = "") -> list[dict[str, Any]]:
    """The cases that have every key (phase) of ``keys``; the others are left out with a warning naming them."""
    kept = [c for c in cases if all(k in c for k in keys)]
    left = [str(c.get("case_id", "?")) for c in cases if not all(k in c for k in keys)]
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        logger.warning("%d of %d %s cases lack one of %s and are left out: %s.", len(left), len(cases), part,
                       ", ".join(keys), shown)  # fmt: skip
    return kept


def classifier_cases(
    datalist: str | Path, phases: Sequence[str], part: str, fold: int = 0, incomplete: str = "error",
    held_out: int | None = None,
) -> list[dict[str, Any]]:
    """Checked cases for the P53 classifier: phases, ``mask``, ``label`` (0/1) and ``case_id``.

    ``incomplete="skip"`` leaves out (with a warning) cases that lack one of ``phases`` altogether, e.g. the
    hepatobiliary phase of a study done with an extracellular agent; ``"error"`` refuses them. ``held_out``: a
    fold left out of ``train`` too (:func:`select_cases`).
    """
    phases = parse_phases(phases, "the datalist's phases")
    if incomplete not in INCOMPLETE:
        raise ConfigError(f"incomplete_cases must be one of {list(INCOMPLETE)}, got {incomplete!r}.")
    cases = select_cases(datalist, part, fold, held_out)
    if incomplete == "skip":
        cases = complete_cases(cases, phases, part)
    else:
        for case in cases:
            missing = [p for p in phases if p not in case]
            if missing:
                raise InputError(f"Case {case.get('case_id', '?')} has no {missing[0]!r}; every case needs "
                                 f"{[*phases, 'mask']} (incomplete_cases: skip leaves such cases out).")  # fmt: skip
    check_cases(cases, [*phases, "mask"], labels=True)
    keep = ("case_id", "label", "mask", *phases)
    logger.info("%d %s cases for the classifier (fold %d), %d mutated.", len(cases), part, fold,
                sum(c["label"] for c in cases))  # fmt: skip
    return [{k: c[k] for k in keep if k in c} for c in cases]


def segmentation_cases(datalist: str | Path, phases: Sequence[str], part: str, fold: int = 0, liver: bool = False
                       ) -> list[dict[str, Any]]:  # fmt: skip
    """Checked cases for tumor segmentation: phases, the tumor mask under ``label``, and ``case_id``; with
    ``liver``, also the liver mask (``liver_mask`` in the datalist) under ``liver``."""
    phases = parse_phases(phases, "the datalist's phases")
    cases = select_cases(datalist, part, fold)
    if liver and any("liver_mask" not in c for c in cases):
        raise InputError(f"{datalist}: a liver output needs every case's liver_mask, and some {part} cases have "
                         "none; add them, or train without one (`--set liver=false`; `hccp53 train` does so by "
                         "itself).")  # fmt: skip
    check_cases(cases, [*phases, "mask", *(["liver_mask"] if liver else [])], labels=False)
    logger.info("%d %s cases for segmentation (fold %d%s).", len(cases), part, fold, ", with liver" if liver else "")
    return [{"case_id": c.get("case_id", ""), "label": c["mask"], **{p: c[p] for p in phases},
             **({"liver": c["liver_mask"]} if liver else {})} for c in cases]  # fmt: skip


def has_liver_masks(datalist: str | Path) -> bool:
    """Whether every case of the datalist (training and test) names a liver mask (``liver_mask``)."""
    cases = _read(str(datalist))
    return bool(cases) and all("liver_mask" in c for c in cases)


def class_weights(cases: Sequence[dict[str, Any]]) -> list[float]:
    """Inverse-frequency weights of labels 0 and 1 (mean weight 1 over the cases), for the loss."""
    counts = np.bincount([int(c["label"]) for c in cases], minlength=2).astype(float)
    if (counts == 0).any():
        raise InputError("Class weights need cases of both labels.")
    weights = counts.sum() / (2.0 * counts)
    return [float(w) for w in weights]


def image_cases(datalist: str | Path, phases: Sequence[str], part: str = "test") -> list[dict[str, Any]]:
    """Checked cases for inference: the phases and ``case_id`` only (no mask or label needed)."""
    phases = parse_phases(phases, "the datalist's phases")
    cases = select_cases(datalist, part)
    check_cases(cases, list(phases), labels=False)
    logger.info("%d %s cases to run inference on.", len(cases), part)
    return [{"case_id": c.get("case_id", ""), **{p: c[p] for p in phases}} for c in cases]


def with_folds(datalist: str | Path, out: str | Path, folds: int = 5, seed: int = 0) -> Path:
    """The datalist itself when every training case has a whole-number ``fold``; otherwise a copy in ``out``
    (``datalist_with_folds.json``, paths made absolute) whose training cases get seeded cross-validation folds,
    stratified by ``label`` when each label has at least 2 cases (then at most that many folds).

    Cases that already carry a fold keep it only when all do: a datalist with some folds is refused instead,
    as mixing a user's folds with ours would silently move cases between training and validation.

    Raises
    ------
    InputError
        The datalist is unreadable, has some cases with folds and some without, or fewer than 2 training cases.
    """
    path = Path(datalist).resolve()
    cases = [c for c in _read(str(path)) if c["_section"] == "training"]
    with_fold = [type(c.get("fold")) is int for c in cases]
    if all(with_fold):
        return path
    if any(with_fold):
        raise InputError(f"Datalist {path.name}: {with_fold.count(False)} of {len(cases)} training cases have "
                         "no whole-number 'fold'; give every case a fold, or none (then `hccp53 train` assigns "
                         "them).")  # fmt: skip
    if len(cases) < 2:
        raise InputError(f"Datalist {path.name} has {len(cases)} training case(s): too few for cross-validation.")
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray([int(c["label"]) if c.get("label") in (0, 1) else -1 for c in cases])
    smallest = int(min(np.sum(labels == 0), np.sum(labels == 1)))
    stratified = smallest >= 2 and not (labels < 0).any()
    k = min(folds, smallest) if stratified else min(folds, len(cases))
    kind = StratifiedKFold if stratified else KFold
    splitter = kind(k, shuffle=True, random_state=seed)
    fold_of = np.zeros(len(cases), dtype=int)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(cases)), labels if stratified else None)):
        fold_of[val] = fold
    content = json.loads(path.read_text(encoding="utf-8"))
    for section in ("training", "test"):
        for case in content.get(section, []):
            for key in (*PHASES, *_FILE_KEYS):
                if isinstance(case.get(key), str):
                    case[key] = str((path.parent / case[key]).resolve())
    for case, fold in zip(content["training"], fold_of, strict=True):
        case["fold"] = int(fold)
    content["folds_assigned"] = {"by": "hccp53 train", "source": str(path), "folds": k, "seed": seed,
                                 "stratified_by_label": stratified}  # fmt: skip
    target = Path(out) / "datalist_with_folds.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    logger.warning("Datalist %s has no folds: %d seeded%s folds (seed %d) assigned to its %d training cases, in %s.",
                   path.name, k, " stratified" if stratified else "", seed, len(cases), target)  # fmt: skip
    return target
