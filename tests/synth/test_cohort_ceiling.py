"""scripts/cohort_ceiling.py: what a synthetic cohort offers a model, from its cohort.csv and datalist.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cohort_ceiling.py"


def _cohort(folder: Path, cases: int = 300) -> pd.DataFrame:
    """A cohort whose label hangs on the hepatobiliary ratio alone: only a model that sees HBP can find it."""
    rng = np.random.default_rng(3)
    table = pd.DataFrame({
        "case_id": [f"S{i:04d}" for i in range(cases)], "rim_aphe": rng.integers(0, 2, cases),
        "capsule": rng.integers(0, 2, cases), "multifocal": rng.integers(0, 2, cases),
        "tumor_diameter_mm": rng.uniform(10, 80, cases), "necrosis_fraction": rng.uniform(0, 0.3, cases),
        "margin_irregularity": rng.uniform(0, 0.3, cases), "hbp_ratio": rng.normal(0, 1, cases)})  # fmt: skip
    table["true_probability"] = 1 / (1 + np.exp(2.5 * table["hbp_ratio"]))
    table["label"] = (rng.uniform(size=cases) < table["true_probability"]).astype(int)
    table.to_csv(folder / "cohort.csv", index=False)
    rows = [{"case_id": c, "label": int(y)} for c, y in zip(table["case_id"], table["label"], strict=True)]
    (folder / "datalist.json").write_text(json.dumps({"training": rows[:200], "test": rows[200:]}))
    return table.set_index("case_id")


def test_the_ceiling_drops_to_chance_without_the_phase_that_holds_the_signal(tmp_path: Path) -> None:
    table = _cohort(tmp_path)
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--phases", "ap,pvp,dp"], capture_output=True,
                            text=True, check=True).stdout.splitlines()  # fmt: skip
    test = table.iloc[200:]
    bayes = roc_auc_score(test["label"], test["true_probability"])
    assert result[1] == f"Bayes AUC, test split (100 cases): {bayes:.3f}"
    all_signs = float(result[2].rsplit(": ", 1)[1])
    visible = result[3]
    assert visible.startswith("  the signs ap, pvp, dp can show (without hbp_ratio): ")
    assert all_signs > 0.8 and abs(float(visible.rsplit(": ", 1)[1]) - 0.5) < 0.12


def test_a_folder_that_is_not_a_cohort_is_one_sentence(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cohort_ceiling: {tmp_path} is not a readable `hccp53 synth` folder")
