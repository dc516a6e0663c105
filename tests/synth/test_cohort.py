"""Cohort output: datalist, splits, CSV, determinism, the Bayes AUC of a large cohort, atomic writing."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist
from sklearn.metrics import roc_auc_score

import hccp53.synth.cohort as cohort_module
from hccp53.data.splits import make_splits
from hccp53.errors import ConfigError, OutputError
from hccp53.synth.cohort import generate_cohort

PHASES = ("t2", "pre", "ap", "pvp", "dp", "hbp")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_datalist_loads_with_monai_and_every_path_exists(cohort: Path) -> None:
    datalist = cohort / "datalist.json"
    training = load_decathlon_datalist(datalist, is_segmentation=True, data_list_key="training")
    test = load_decathlon_datalist(datalist, is_segmentation=True, data_list_key="test")
    assert len(training) + len(test) == 8
    assert len(test) == 2  # 8:2
    for case in training + test:
        assert {"case_id", "t2", "ap", "pvp", "dp", "mask", "label", "clinical"} <= set(case)
        assert case["label"] in (0, 1)
        for key in (*PHASES, "mask", "liver_mask"):
            if key in case:
                assert Path(case[key]).is_file(), case[key]
    assert all(case["fold"] >= 0 for case in training)


def test_all_phases_of_a_case_share_one_voxel_grid(cohort: Path) -> None:
    datalist = json.loads((cohort / "datalist.json").read_text())
    for case in datalist["training"] + datalist["test"]:
        images = [nib.load(cohort / case[k]) for k in (*PHASES, "mask", "liver_mask") if k in case]
        for image in images[1:]:
            assert image.shape == images[0].shape
            np.testing.assert_allclose(image.affine, images[0].affine, atol=1e-4)


def test_splits_are_seeded_stratified_and_partition_the_cohort(cohort: Path) -> None:
    split = json.loads((cohort / "splits.json").read_text())
    everyone = {p.name for p in (cohort / "cases").iterdir()}
    assert set(split["training"]) | set(split["test"]) == everyone
    assert not set(split["training"]) & set(split["test"])
    for fold in split["folds"]:
        assert set(fold["train"]) | set(fold["val"]) == set(split["training"])
        assert not set(fold["train"]) & set(fold["val"])
    vals = [c for fold in split["folds"] for c in fold["val"]]
    assert sorted(vals) == sorted(split["training"])


def test_make_splits_keeps_label_proportions() -> None:
    ids = [f"C{i:03d}" for i in range(100)]
    labels = [1] * 57 + [0] * 43
    split = make_splits(ids, labels, 0.2, 5, seed=3)
    label_of = dict(zip(ids, labels, strict=True))
    assert split["stratified"] is True
    assert len(split["test"]) == 20
    assert sum(label_of[c] for c in split["test"]) in (11, 12)
    assert len(split["folds"]) == 5
    for fold in split["folds"]:
        assert 0.45 < np.mean([label_of[c] for c in fold["val"]]) < 0.70
    assert make_splits(ids, labels, 0.2, 5, seed=3) == split
    assert make_splits(ids, labels, 0.2, 5, seed=4)["test"] != split["test"]


def test_make_splits_with_too_few_cases_says_it_is_not_stratified() -> None:
    split = make_splits(["A", "B", "C"], [1, 0, 1], 0.2, 5, seed=0)
    assert split["stratified"] is False
    assert len(split["test"]) == 1 and len(split["training"]) == 2
    assert make_splits(["A"], [1], 0.2, 5, seed=0)["test"] == []


def test_cohort_csv_agrees_with_truth_and_datalist(cohort: Path, truths: dict[str, dict]) -> None:
    with (cohort / "cohort.csv").open() as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    datalist = json.loads((cohort / "datalist.json").read_text())
    entries = {c["case_id"]: c for c in datalist["training"] + datalist["test"]}
    assert set(rows) == set(entries) == set(truths)
    for case_id, row in rows.items():
        assert int(row["label"]) == entries[case_id]["label"]
        assert 0.0 < float(row["true_probability"]) < 1.0
        assert row["vendor"] == truths[case_id]["vendor"]
        assert row["phases_present"].split() == [p for p in PHASES if p in entries[case_id]]
        assert set(entries[case_id]["clinical"]) >= {"age", "sex", "afp_ng_ml", "hbv", "cirrhosis", "albi_score",
                                                     "child_pugh", "tumor_size_mm", "tumor_number"}


def test_same_seed_gives_identical_files_whatever_the_worker_count(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "a", 2, seed=21, workers=1, progress=False)
    generate_cohort(tmp_path / "b", 2, seed=21, workers=2, progress=False)
    generate_cohort(tmp_path / "c", 2, seed=22, workers=2, progress=False)
    first, second, other = (_hashes(tmp_path / n) for n in "abc")
    assert len(first) > 100
    assert first == second
    assert first["cohort.csv"] != other["cohort.csv"]


def test_a_case_does_not_depend_on_the_cohort_size(tmp_path: Path) -> None:
    generate_cohort(tmp_path / "one", 1, seed=5, progress=False, preview=False)
    generate_cohort(tmp_path / "two", 2, seed=5, progress=False, preview=False)
    one, two = _hashes(tmp_path / "one"), _hashes(tmp_path / "two")
    case_files = [k for k in one if k.startswith("cases/SYN0001/")]
    assert case_files and all(one[k] == two[k] for k in case_files)


def test_large_cohort_bayes_auc_lies_in_the_configured_range(tmp_path: Path) -> None:
    summary = generate_cohort(tmp_path / "big", 2000, seed=2, images=False, progress=False)
    with (tmp_path / "big" / "cohort.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labels = [int(r["label"]) for r in rows]
    auc = roc_auc_score(labels, [float(r["true_probability"]) for r in rows])
    assert 0.80 <= auc <= 0.85
    assert summary.bayes_auc == pytest.approx(auc)
    assert 0.53 < np.mean(labels) < 0.61
    assert not (tmp_path / "big" / "cases").exists()


def test_images_do_not_change_the_latent_truth(tmp_path: Path, cohort: Path) -> None:
    generate_cohort(tmp_path / "latent", 8, seed=1, images=False, progress=False)
    with (cohort / "cohort.csv").open() as a, (tmp_path / "latent" / "cohort.csv").open() as b:
        full = {r["case_id"]: r for r in csv.DictReader(a)}
        latent = {r["case_id"]: r for r in csv.DictReader(b)}
    for case_id, row in latent.items():
        for column in row:  # labels, probabilities and every clinical variable
            assert row[column] == full[case_id][column], (case_id, column)


def test_non_empty_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty; choose another folder or pass --overwrite"):
        generate_cohort(out, 1, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    generate_cohort(out, 1, progress=False, preview=False, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "datalist.json").is_file()


def test_output_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="Cannot write the output folder"):
        generate_cohort(blocker / "cohort", 1, progress=False)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cases": 0}, "number of cases must be a positive integer"),
    ({"cases": -3}, "number of cases must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"profile": "huge"}, "Unknown profile 'huge'"),
    ({"workers": 0}, "number of workers"),
])
def test_bad_arguments_raise_before_writing(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"cases": 1, **kwargs}
    with pytest.raises(ConfigError, match=message):
        generate_cohort(tmp_path / "out", progress=False, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cohort_module.generate_case

    def failing(out_root, index, *args, **kwargs):
        if index == 1:
            raise RuntimeError("simulated failure")
        return real(out_root, index, *args, **kwargs)

    monkeypatch.setattr(cohort_module, "generate_case", failing)
    with pytest.raises(RuntimeError, match="simulated failure"):
        generate_cohort(tmp_path / "out", 3, workers=1, progress=False, preview=False)
    assert list(tmp_path.iterdir()) == []
