"""Reading and checking a predictions CSV: every bad table gets one sentence naming its rows or column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.errors import InputError
from hccp53.evaluation.predictions import ALL, read_predictions


def table(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.tile([0, 1], n // 2)
    return pd.DataFrame({
        "case_id": [f"C{i:03d}" for i in range(n)],
        "label": label,
        "split": ["training"] * (n // 2) + ["test"] * (n - n // 2),
        "dl": np.clip(0.3 + 0.4 * label + rng.normal(0, 0.2, n), 0, 1),
        "radscore": rng.normal(label, 1.0),
    })


def write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_good_table_is_read_with_its_models_and_splits(tmp_path: Path) -> None:
    predictions = read_predictions(write(tmp_path, table()))
    assert predictions.models == ("dl", "radscore")
    assert predictions.splits == ("training", "test")
    assert predictions.is_probability("dl") and not predictions.is_probability("radscore")
    assert predictions.frame["label"].dtype.kind == "i"


def test_without_a_split_column_every_case_is_one_split(tmp_path: Path) -> None:
    predictions = read_predictions(write(tmp_path, table().drop(columns="split")))
    assert predictions.splits == (ALL,)


def test_nan_scores_are_named_by_line_and_case(tmp_path: Path) -> None:
    frame = table()
    frame.loc[3, "dl"] = np.nan
    frame.loc[7, "dl"] = np.nan
    with pytest.raises(InputError, match=r"column 'dl' has a missing, NaN .* lines 5, 9 \(case C003, C007\)"):
        read_predictions(write(tmp_path, frame))


def test_a_non_numeric_score_is_refused(tmp_path: Path) -> None:
    frame = table().astype({"radscore": object})
    frame.loc[0, "radscore"] = "high"
    with pytest.raises(InputError, match=r"'radscore' .* line 2 \(case C000\)"):
        read_predictions(write(tmp_path, frame))


def test_one_class_only_in_a_split_is_refused(tmp_path: Path) -> None:
    frame = table()
    frame.loc[frame["split"] == "test", "label"] = 1
    with pytest.raises(InputError, match="split 'test' .* has label 1; an AUC needs both"):
        read_predictions(write(tmp_path, frame))


def test_duplicated_case_ids_are_named(tmp_path: Path) -> None:
    frame = table()
    frame.loc[4, "case_id"] = "C001"
    with pytest.raises(InputError, match=r"repeats case ids at lines 3, 6 \(case C001, C001\)"):
        read_predictions(write(tmp_path, frame))


@pytest.mark.parametrize("bad", [2, -1, "yes", 0.5])
def test_labels_other_than_0_1_are_named(tmp_path: Path, bad: object) -> None:
    frame = table().astype({"label": object})
    frame.loc[2, "label"] = bad
    with pytest.raises(InputError, match=r"labels other than 0/1 at line 4 \(case C002\)"):
        read_predictions(write(tmp_path, frame))


@pytest.mark.parametrize("column", ["case_id", "label"])
def test_a_missing_required_column_is_named(tmp_path: Path, column: str) -> None:
    with pytest.raises(InputError, match=f"has no '{column}' column"):
        read_predictions(write(tmp_path, table().drop(columns=column)))


def test_a_table_without_model_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no model score column"):
        read_predictions(write(tmp_path, table()[["case_id", "label", "split"]]))


def test_an_unknown_split_is_refused(tmp_path: Path) -> None:
    frame = table()
    frame.loc[1, "split"] = "validation"
    with pytest.raises(InputError, match=r"split other than training/test at line 3"):
        read_predictions(write(tmp_path, frame))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_predictions(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="not a readable CSV"):
        read_predictions(empty)
