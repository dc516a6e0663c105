"""The radiologist-read imaging signs of the synthetic clinical data agree with the truth as readers do."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from hccp53.synth.cohort import generate_cohort
from hccp53.synth.config import default_config

SIGNS = ("rim_aphe_read", "capsule_read", "necrosis_read", "nonsmooth_margin_read")


@pytest.fixture(scope="module")
def latents(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("reader") / "cohort"
    generate_cohort(out, 2000, seed=5, images=False, workers=1, progress=False)
    return pd.read_csv(out / "cohort.csv")


def test_each_sign_reads_the_truth_with_a_kappa_of_about_0_6_to_0_8(latents: pd.DataFrame) -> None:
    reader = default_config()["reader"]
    truth = {"rim_aphe_read": latents["rim_aphe"], "capsule_read": latents["capsule"],
             "necrosis_read": latents["necrosis_fraction"] > reader["necrosis_threshold"],
             "nonsmooth_margin_read": latents["margin_irregularity"] > reader["margin_threshold"]}  # fmt: skip
    for sign in SIGNS:
        kappa = cohen_kappa_score(truth[sign].astype(int), latents[sign])
        assert 0.6 <= kappa <= 0.85, (sign, kappa)
        disagreement = float((truth[sign].astype(int) != latents[sign]).mean())
        assert disagreement == pytest.approx(reader["error_rate"], abs=0.02), sign


def test_the_signs_are_in_every_cases_clinical_data(cohort: Path) -> None:
    import json

    datalist = json.loads((cohort / "datalist.json").read_text())
    for case in datalist["training"] + datalist["test"]:
        assert set(SIGNS) <= set(case["clinical"]) and {case["clinical"][s] for s in SIGNS} <= {0, 1}
