"""Table 1: the right test per variable, with the p-values R gives (run live when Rscript is installed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from hccp53.evaluation.baseline import baseline_table


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(12)
    n = 120
    labels = pd.Series(rng.integers(0, 2, n), name="label")
    clinical = pd.DataFrame({
        "age": rng.normal(56, 9, n).round(),                          # normal: Welch t-test
        "afp_ng_ml": np.exp(rng.normal(3 + labels, 2, n)).round(1),  # skewed: Mann-Whitney
        "sex": np.where(rng.random(n) < 0.77, "M", "F"),              # 2 levels, large counts: chi-square
        "rare": np.where(rng.random(n) < 0.05, 1, 0),                 # small expected counts: Fisher
        "tumor_number": rng.integers(1, 4, n),                        # 3 levels: chi-square
    })  # fmt: skip
    splits = pd.Series(np.where(np.arange(n) < 90, "training", "test"))
    return clinical, labels, splits


def test_each_variable_gets_its_test(cohort: tuple) -> None:
    table = baseline_table(*cohort).set_index(["variable", "level"])
    tests = table["training: test"].dropna()
    assert tests[("age", "")] == "Welch t-test" and tests[("afp_ng_ml", "")] == "Mann-Whitney U"
    assert tests[("sex", "")] == "chi-square" and tests[("rare", "")] == "Fisher's exact"
    assert tests[("tumor_number", "")] == "chi-square"
    assert table.loc[("n", ""), "training: P53-mutated"] == str(int(cohort[1][:90].sum()))
    assert "test: p" in table.columns and table.loc[("sex", "M"), "training: wild type"].endswith("%)")


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed (scripts/setup_system.sh)")
def test_p_values_are_rs(cohort: tuple, tmp_path) -> None:  # noqa: ANN001
    clinical, labels, splits = cohort
    training = clinical[splits == "training"].assign(y=labels[splits == "training"])
    path = tmp_path / "training.csv"
    training.to_csv(path, index=False)
    script = f"""
d <- read.csv("{path}")
g1 <- d$y == 1; g0 <- d$y == 0
cat(t.test(d$age[g1], d$age[g0])$p.value, "\\n")
cat(wilcox.test(d$afp_ng_ml[g1], d$afp_ng_ml[g0], exact = FALSE, correct = TRUE)$p.value, "\\n")
cat(chisq.test(table(d$sex, d$y))$p.value, "\\n")
cat(fisher.test(table(d$rare, d$y))$p.value, "\\n")
cat(chisq.test(table(d$tumor_number, d$y))$p.value, "\\n")
"""
    done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True, timeout=120)
    expected = [float(v) for v in done.stdout.split()]
    table = baseline_table(*cohort).set_index(["variable", "level"])
    ours = [table.loc[(v, ""), "training: p"] for v in ("age", "afp_ng_ml", "sex", "rare", "tumor_number")]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
