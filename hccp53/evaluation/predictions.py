"""The predictions table every evaluation starts from, read and checked.

Layout (``hccp53 evaluate --predictions FILE``, and what the full workflow writes as ``predictions.csv``)::

    case_id,label,split,fold,<model 1>,<model 2>,...
    SYN0001,1,training,3,0.81,0.64,...

``case_id`` and ``label`` (0/1, 1 = P53-mutated) are required; ``split`` (``training`` / ``test``) and
``fold`` (out-of-fold cross-validation predictions) are optional; every other column is one model's
score, higher meaning more likely mutated. Scores in [0, 1] are taken as probabilities (calibration and
decision curves need them); other scores (a radiomics score, a logit) are ranked only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hccp53.errors import InputError

REQUIRED = ("case_id", "label")
OPTIONAL = ("split", "fold")
SPLITS = ("training", "test")
#: Split name used when the table has no ``split`` column.
ALL = "all"
_SHOWN = 5  # how many offending rows an error names


@dataclass(frozen=True)
class Predictions:
    """A checked predictions table.

    Attributes
    ----------
    frame:
        One row per case: ``case_id``, ``label`` (int 0/1), ``split``, optional ``fold``, model columns.
    models:
        The model columns, in file order.
    """

    frame: pd.DataFrame
    models: tuple[str, ...]

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits present, training first."""
        present = set(self.frame["split"])
        return tuple(s for s in (*SPLITS, ALL) if s in present)

    def part(self, split: str) -> pd.DataFrame:
        """The rows of one split."""
        return self.frame[self.frame["split"] == split]

    def is_probability(self, model: str) -> bool:
        """Whether a model's scores all lie in [0, 1] (so calibration and net benefit apply)."""
        values = self.frame[model].to_numpy(dtype=float)
        return bool(np.all((values >= 0.0) & (values <= 1.0)))


def _rows(mask: pd.Series, frame: pd.DataFrame) -> str:
    """'rows 3, 7 (case ids A, B)': 1-based data rows as in a spreadsheet after the header."""
    index = np.flatnonzero(mask.to_numpy())
    shown = ", ".join(str(i + 2) for i in index[:_SHOWN])  # +1 for 1-based, +1 for the header line
    ids = ", ".join(str(frame["case_id"].iloc[i]) for i in index[:_SHOWN])
    more = f" and {len(index) - _SHOWN} more" if len(index) > _SHOWN else ""
    return f"line{'s' if len(index) > 1 else ''} {shown}{more} (case {ids})"


def check_predictions(frame: pd.DataFrame, source: str = "the predictions table") -> Predictions:
    """Check a predictions table and normalise its columns.

    Raises
    ------
    InputError
        Naming the column or rows: a missing ``case_id``/``label`` column, no model column, duplicated
        case ids, labels other than 0/1, a split other than training/test, a score that is missing, NaN
        or not a number, or a split with one class only.
    """
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"{source} has no {' or '.join(repr(c) for c in missing)} column; the columns must be "
                         "case_id, label, optional split and fold, then one score column per model.")  # fmt: skip
    models = tuple(c for c in frame.columns if c not in (*REQUIRED, *OPTIONAL))
    if not models:
        raise InputError(f"{source} has no model score column; add one column per model after case_id and label.")
    if frame.empty:
        raise InputError(f"{source} has no rows.")
    frame["case_id"] = frame["case_id"].astype(str).str.strip()
    duplicated = frame["case_id"].duplicated(keep=False)
    if duplicated.any():
        raise InputError(f"{source} repeats case ids at {_rows(duplicated, frame)}; give each case one row.")
    labels = pd.to_numeric(frame["label"], errors="coerce")
    bad = ~labels.isin([0, 1])
    if bad.any():
        raise InputError(f"{source} has labels other than 0/1 at {_rows(bad, frame)}; 1 = P53-mutated, 0 = not.")
    frame["label"] = labels.astype(int)
    if "split" in frame.columns:
        frame["split"] = frame["split"].astype(str).str.strip().str.lower()
        bad = ~frame["split"].isin(SPLITS)
        if bad.any():
            raise InputError(f"{source} has a split other than training/test at {_rows(bad, frame)}.")
    else:
        frame["split"] = ALL
    if "fold" in frame.columns:
        folds = pd.to_numeric(frame["fold"], errors="coerce")
        bad = folds.isna() | (folds != folds.round())
        if bad.any():
            raise InputError(f"{source} has a fold that is not a whole number at {_rows(bad, frame)}.")
        frame["fold"] = folds.astype(int)
    for model in models:
        scores = pd.to_numeric(frame[model], errors="coerce")
        bad = scores.isna() | ~np.isfinite(scores.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            raise InputError(f"{source}: model column {model!r} has a missing, NaN or non-numeric score at "
                             f"{_rows(bad, frame)}; score every case or leave the model out.")  # fmt: skip
        frame[model] = scores.astype(float)
    for split in frame["split"].unique():
        classes = set(frame.loc[frame["split"] == split, "label"])
        if len(classes) < 2:
            where = "" if split == ALL else f" split {split!r} of"
            raise InputError(f"Every case of{where} {source} has label {classes.pop()}; an AUC needs both "
                             "P53-mutated (1) and wild-type (0) cases.")  # fmt: skip
    columns = ["case_id", "label", "split", *(["fold"] if "fold" in frame.columns else []), *models]
    return Predictions(frame[columns].reset_index(drop=True), models)


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a predictions CSV (see the module docstring for its layout).

    Raises
    ------
    InputError
        The file is missing or not a CSV, or the table fails :func:`check_predictions`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Predictions file {path} does not exist.")
    try:
        frame = pd.read_csv(path, dtype={"case_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"Predictions file {path} is not a readable CSV ({reason}).") from None
    return check_predictions(frame, f"Predictions file {path.name}")
