"""A datalist without folds (a user's own) gets seeded folds from `hccp53 train` instead of a refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hccp53.data.datalist import select_cases, with_folds
from hccp53.errors import InputError


def _without_folds(cohort: Path, folder: Path, keep: int = 0) -> Path:
    content = json.loads((cohort / "datalist.json").read_text())
    for i, case in enumerate(content["training"]):
        if i >= keep:
            case.pop("fold", None)
    for case in content["training"]:
        for key in ("t2", "ap", "pvp", "mask"):
            case[key] = str((cohort / case[key]).resolve())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mine.json"
    path.write_text(json.dumps(content))
    return path


def test_seeded_stratified_folds_are_written_beside_the_run(cohort: Path, tmp_path: Path) -> None:
    mine = _without_folds(cohort, tmp_path / "user")
    written = with_folds(mine, tmp_path / "run", folds=2, seed=3)
    assert written == tmp_path / "run" / "datalist_with_folds.json"
    content = json.loads(written.read_text())
    assert content["folds_assigned"] == {"by": "hccp53 train", "source": str(mine), "folds": 2, "seed": 3,
                                         "stratified_by_label": True}  # fmt: skip
    for fold in (0, 1):
        val = select_cases(written, "val", fold)
        assert {case["label"] for case in val} == {0, 1} and all(Path(case["ap"]).is_file() for case in val)
    assert with_folds(mine, tmp_path / "again", folds=2, seed=3).read_text() == written.read_text()
    assert with_folds(written, tmp_path / "third") == written  # folds already there: used as they are


def test_a_datalist_with_some_folds_is_refused(cohort: Path, tmp_path: Path) -> None:
    mine = _without_folds(cohort, tmp_path / "user", keep=2)
    with pytest.raises(InputError, match=r"of \d+ training cases have no whole-number 'fold'; give every case a fold"):
        with_folds(mine, tmp_path / "run")
