"""The shuffled-label control (hccp53.evaluation.control): the permutation keeps every fold's and the test split's
class balance, and the leak check's null SE is the Mann-Whitney statistic's under the null."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hccp53.errors import InputError
from hccp53.evaluation.control import leak_check, null_auc_se, permute_labels


def _datalist(cases: int = 60) -> dict:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, cases)
    training = [{"case_id": f"C{k:03d}", "label": int(labels[k]), "fold": k % 5, "clinical": {"age": 50 + k}}
                for k in range(cases - 20)]  # fmt: skip
    test = [{"case_id": f"C{k:03d}", "label": int(labels[k])} for k in range(cases - 20, cases)]
    return {"name": "toy", "training": training, "test": test}


def test_labels_are_permuted_within_each_fold_and_the_test_split() -> None:
    original = _datalist()
    permuted = permute_labels(original, seed=1)
    assert original == _datalist()  # the input is left alone
    for split in ("training", "test"):
        for fold in {e.get("fold") for e in original[split]}:
            before = [e["label"] for e in original[split] if e.get("fold") == fold]
            after = [e["label"] for e in permuted[split] if e.get("fold") == fold]
            assert Counter(before) == Counter(after)
    changed = sum(a["label"] != b["label"] for split in ("training", "test")
                  for a, b in zip(original[split], permuted[split], strict=True))  # fmt: skip
    assert changed == permuted["labels_permuted"]["changed"] > 10
    assert [e["case_id"] for e in permuted["training"]] == [e["case_id"] for e in original["training"]]
    assert permuted["training"][3]["clinical"] == original["training"][3]["clinical"]
    assert permute_labels(original, seed=1) == permuted and permute_labels(original, seed=2) != permuted
    with pytest.raises(InputError, match="permuted already"):
        permute_labels(permuted, seed=1)
    del original["test"][0]["label"]
    with pytest.raises(InputError, match="C040 of the test split has no label"):
        permute_labels(original, seed=1)


def test_the_null_se_is_that_of_auc_under_permutation() -> None:
    """Against the spread of 20,000 AUCs of random scores (the Mann-Whitney null, no ties)."""
    rng = np.random.default_rng(7)
    labels = np.array([1] * 9 + [0] * 14)
    aucs = [roc_auc_score(labels, rng.random(labels.size)) for _ in range(20_000)]
    assert null_auc_se(9, 14) == pytest.approx(np.std(aucs), rel=0.03)
    assert null_auc_se(30, 30) == pytest.approx(np.sqrt(61 / (12 * 900)))
    with pytest.raises(ValueError):
        null_auc_se(0, 5)


def test_the_leak_check_flags_a_figure_beyond_two_se() -> None:
    metrics = {"splits": {"test": {"cases": 60, "mutated": 30, "models": {"A": {"auc": 0.55}, "B": {"auc": 0.70}}},
                          "training": {"cases": 200, "mutated": 100, "models": {"A": {"auc": 0.63},
                                                                                 "B": {"auc": 0.99}}}},
               "stacking": {"training_scores": {"A": "out-of-fold", "B": "in-sample"}},
               "cross_validation_fitted_models": {"Combined": {"pooled_auc": 0.59}}}  # fmt: skip
    rows = {(r["model"], r["figure"]): r for r in leak_check(metrics)}
    assert rows["A", "test AUC"]["within"] and not rows["B", "test AUC"]["within"]  # 2 SE = 0.149
    # a network's out-of-fold AUC is checked (0.63 is where early stopping on the scored fold took a network on
    # noise); an in-sample one is not, since a network scores its own training cases well whatever the labels
    assert not rows["A", "out-of-fold AUC"]["within"] and ("B", "out-of-fold AUC") not in rows
    assert not rows["Combined", "cross-validated AUC"]["within"]  # 2 SE on 200 cases = 0.082
    assert rows["Combined", "cross-validated AUC"]["se"] == pytest.approx(null_auc_se(100, 100), abs=1e-4)


def test_the_command_writes_the_permuted_datalist_beside_the_original(tmp_path: Path) -> None:
    (tmp_path / "datalist.json").write_text(json.dumps(_datalist()))
    command = [sys.executable, "-m", "hccp53.evaluation.control", "--datalist", str(tmp_path / "datalist.json"),
               "--seed", "4"]  # fmt: skip
    done = subprocess.run([*command, "--out", str(tmp_path / "permuted.json")], capture_output=True, text=True)
    assert done.returncode == 0 and "labels permuted with seed 4" in done.stdout
    assert json.loads((tmp_path / "permuted.json").read_text())["labels_permuted"]["seed"] == 4
    (tmp_path / "elsewhere").mkdir()
    refused = subprocess.run([*command, "--out", str(tmp_path / "elsewhere" / "p.json")], capture_output=True,
                             text=True)  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("control: Write the permuted datalist beside")
    assert "Traceback" not in refused.stderr
