"""The evaluation folder from a predictions table: statistics, tables, figures, report; nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from html import unescape
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hccp53.errors import OutputError
from hccp53.evaluation import outputs
from hccp53.evaluation.metrics import Settings
from hccp53.evaluation.outputs import write_evaluation
from hccp53.evaluation.predictions import check_predictions
from hccp53.stats import youden_threshold

SETTINGS = Settings(n_resamples=300, seed=7)


def cohort(n_training: int = 120, n_test: int = 60, seed: int = 0) -> pd.DataFrame:
    """Three models of different strength; ``radscore`` is not a probability; folds on the training rows."""
    rng = np.random.default_rng(seed)
    n = n_training + n_test
    label = rng.integers(0, 2, n)
    signal = label + rng.normal(0, 1, n)
    return pd.DataFrame({
        "case_id": [f"S{i:04d}" for i in range(n)],
        "label": label,
        "split": ["training"] * n_training + ["test"] * n_test,
        "fold": np.r_[np.arange(n_training) % 4, np.zeros(n_test, int)],
        "strong": 1 / (1 + np.exp(-(signal - 0.5))),  # the exact posterior: calibrated
        "weak": 1 / (1 + np.exp(-(0.3 * signal + rng.normal(0, 1, n)))),
        "radscore": signal + rng.normal(0, 0.5, n),
    })


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict]:
    frame = cohort()
    out = tmp_path_factory.mktemp("evaluation") / "out"
    metrics = write_evaluation(check_predictions(frame), out, SETTINGS)
    return out, frame, metrics


def test_every_output_is_written(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, _ = evaluation
    for name in ("metrics.json", "predictions.csv", "table_performance.csv", "delong_training.csv",
                 "delong_test.csv", "delong_test_holm.csv", "cross_validation.csv", "report.html",
                 "table_calibration.csv",
                 "figures/roc_training.png", "figures/roc_test.png", "figures/calibration_test.png",
                 "figures/decision_curve_test.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".out.*")), "the staging folder was left behind"


def test_aucs_match_sklearn_and_their_intervals_contain_them(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    _, frame, metrics = evaluation
    for split in ("training", "test"):
        part = frame[frame["split"] == split]
        for model in ("strong", "weak", "radscore"):
            entry = metrics["splits"][split]["models"][model]
            assert entry["auc"] == pytest.approx(roc_auc_score(part["label"], part[model]), abs=1e-12)
            for key in ("auc_ci_delong", "auc_ci_bootstrap"):
                lo, hi = entry[key]
                assert lo < entry["auc"] < hi, (split, model, key)
    test = metrics["splits"]["test"]["models"]
    assert test["strong"]["auc"] > test["weak"]["auc"]


def test_the_threshold_is_chosen_on_training_and_applied_unchanged(
    evaluation: tuple[Path, pd.DataFrame, dict],
) -> None:
    _, frame, metrics = evaluation
    training, test = frame[frame["split"] == "training"], frame[frame["split"] == "test"]
    threshold = youden_threshold(training["label"].to_numpy(), training["strong"].to_numpy())
    assert metrics["threshold_chosen_on"] == "training"
    for split, part in (("training", training), ("test", test)):
        entry = metrics["splits"][split]["models"]["strong"]
        assert entry["threshold"] == pytest.approx(threshold)
        predicted = (part["strong"] >= threshold).astype(int)
        y = part["label"]
        sensitivity = float(((predicted == 1) & (y == 1)).sum() / (y == 1).sum())
        accuracy = float((predicted == y).mean())
        assert entry["metrics"]["sensitivity"]["value"] == pytest.approx(sensitivity)
        assert entry["metrics"]["accuracy"]["value"] == pytest.approx(accuracy)
        lo, hi = entry["metrics"]["accuracy"]["ci"]
        assert lo <= accuracy <= hi


def test_calibration_only_for_probabilities(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    _, _, metrics = evaluation
    assert metrics["probability_models"] == ["strong", "weak"]
    test = metrics["splits"]["test"]["models"]
    assert "calibration" in test["strong"] and "calibration" not in test["radscore"]
    assert 0 < test["strong"]["calibration"]["brier"] < 0.25


def test_delong_matrix_is_symmetric_with_an_empty_diagonal(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, _ = evaluation
    raw = pd.read_csv(out / "delong_test.csv", index_col="model")
    holm = pd.read_csv(out / "delong_test_holm.csv", index_col="model")
    assert list(raw.index) == list(raw.columns) == ["strong", "weak", "radscore"]
    assert np.isnan(np.diag(raw.to_numpy())).all()
    np.testing.assert_allclose(raw.to_numpy(), raw.to_numpy().T)
    off = ~np.eye(3, dtype=bool)
    assert (holm.to_numpy()[off] >= raw.to_numpy()[off] - 1e-15).all()


def test_the_table_has_the_papers_layout(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    """Cohorts as row blocks (training, then test), one row per model, every metric with its CI."""
    out, _, metrics = evaluation
    table = pd.read_csv(out / "table_performance.csv")
    assert list(table.columns) == ["Cohort", "Model", "AUC (95% CI)", "Accuracy", "Sensitivity", "Specificity",
                                   "Precision", "NPV", "F1"]  # fmt: skip
    assert list(table["Cohort"]) == ["Training"] * 3 + ["Test"] * 3
    assert list(table["Model"]) == ["strong", "weak", "radscore"] * 2
    test_strong = table[(table["Cohort"] == "Test") & (table["Model"] == "strong")].iloc[0]
    entry = metrics["splits"]["test"]["models"]["strong"]
    assert test_strong["AUC (95% CI)"] == (f"{entry['auc']:.3f} ({entry['auc_ci_delong'][0]:.3f}-"
                                           f"{entry['auc_ci_delong'][1]:.3f})")  # fmt: skip
    accuracy = entry["metrics"]["accuracy"]
    assert test_strong["Accuracy"] == f"{accuracy['value']:.3f} ({accuracy['ci'][0]:.3f}-{accuracy['ci'][1]:.3f})"


def test_cross_validation_from_the_fold_column(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    _, frame, metrics = evaluation
    training = frame[frame["split"] == "training"]
    cv = metrics["cross_validation"]["strong"]
    folds = [roc_auc_score(rows["label"], rows["strong"]) for _, rows in training.groupby("fold")]
    assert cv["mean_auc"] == pytest.approx(np.mean(folds))
    assert cv["sd_auc"] == pytest.approx(np.std(folds, ddof=1))
    assert cv["pooled_auc"] == pytest.approx(roc_auc_score(training["label"], training["strong"]))


def test_figures_are_real_pictures(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, _ = evaluation
    for name in ("roc_test.png", "calibration_test.png", "decision_curve_test.png"):
        image = mpimg.imread(out / "figures" / name)[..., :3]
        assert image.shape[0] > 300 and image.shape[1] > 400, name
        ink = (image < 0.9).any(axis=-1).mean()
        colours = len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0))
        assert 0.01 < ink < 0.6, (name, ink)  # drawn on, but not a filled block
        assert colours > 20, (name, colours)


def test_the_report_is_self_contained(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, _ = evaluation
    html = (out / "report.html").read_text()
    figures = list((out / "figures").glob("*.png"))
    assert html.count('src="data:image/png;base64,') == len(figures) == 6
    assert "http://" not in html and "https://" not in html and 'src="figures' not in html
    assert "Research use only" in html and "DeLong test p-values" in html


def test_a_non_empty_output_folder_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty; choose another --out or pass --overwrite"):
        write_evaluation(check_predictions(cohort()), out, SETTINGS)
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "write_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_evaluation(check_predictions(cohort()), tmp_path / "out", SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_csv_is_one_sentence_and_no_output(tmp_path: Path) -> None:
    frame = cohort(20, 10)
    frame.loc[5, "weak"] = np.nan
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = subprocess.run([sys.executable, "-m", "hccp53", "evaluate", "--predictions", str(tmp_path / "bad.csv"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "'weak'" in result.stderr and "line 7 (case S0005)" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_evaluation(tmp_path: Path) -> None:
    cohort(60, 40).to_csv(tmp_path / "scores.csv", index=False)
    result = subprocess.run([sys.executable, "-m", "hccp53", "evaluate", "--predictions", str(tmp_path / "scores.csv"),
                             "--out", str(tmp_path / "out"), "--resamples", "200", "--threshold", "sensitivity:0.9",
                             "--ci-method", "percentile"], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["settings"]["threshold"] == "sensitivity"
    assert metrics["settings"]["ci_method"] == "percentile"
    training = metrics["splits"]["training"]["models"]["strong"]["metrics"]["sensitivity"]["value"]
    assert training >= 0.9


def test_the_report_opens_with_the_best_model_of_each_split(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, metrics = evaluation
    html = (out / "report.html").read_text()
    for split, title in (("training", "Training split"), ("test", "Test split")):
        models = metrics["splits"][split]["models"]
        best, second = sorted(models, key=lambda m: models[m]["auc"], reverse=True)[:2]
        p = metrics["delong"][split]["p"][best][second]
        verdict = "significant" if p < 0.05 else "not significant"
        assert f"{title}: the best model is {best} (AUC {models[best]['auc']:.3f}" in html
        assert f"its difference from {second} (AUC {models[second]['auc']:.3f}) is {verdict}" in html


def test_the_summary_gives_a_fitted_models_cross_validated_auc_beside_its_apparent_one(tmp_path: Path) -> None:
    frame = cohort()
    cross_validated = {"strong": {"fold_auc": {"0": 0.7}, "mean_auc": 0.7, "sd_auc": 0.0, "pooled_auc": 0.6789}}
    metrics = write_evaluation(check_predictions(frame), tmp_path / "out", SETTINGS,
                               extra_metrics={"cross_validation_fitted_models": cross_validated})
    training = metrics["splits"]["training"]["models"]
    assert max(training, key=lambda m: training[m]["auc"]) == "strong"
    html = unescape((tmp_path / "out" / "report.html").read_text())
    assert "strong's training AUC is apparent (it was fitted on these cases); its cross-validated AUC is 0.679" in html
    assert html.count("cross-validated AUC is") == 1  # the training sentence only, not the test split's


def test_the_calibration_table_holds_hosmer_lemeshow_per_split(evaluation: tuple[Path, pd.DataFrame, dict]) -> None:
    out, _, metrics = evaluation
    table = pd.read_csv(out / "table_calibration.csv")
    assert set(table["split"]) == {"training", "test"} and "radscore" not in set(table["model"])  # not a probability
    row = table[(table["split"] == "test") & (table["model"] == "strong")].iloc[0]
    expected = metrics["splits"]["test"]["models"]["strong"]["calibration"]["hosmer_lemeshow"]
    assert row["hosmer_lemeshow_chi2"] == pytest.approx(expected["chi2"]) and row["hosmer_lemeshow_df"] == 8
    assert "Hosmer-Lemeshow" in (out / "report.html").read_text()
