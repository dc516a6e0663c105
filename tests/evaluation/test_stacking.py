"""Out-of-fold stacking (issue 24, item 3): no second-level model learns from an in-sample score.

The leak test runs `hccp53 evaluate --datalist` on a cohort whose labels are permuted (seeded), so that nothing
can predict them: every model's test AUC and the combined model's cross-validated AUC must lie within
0.5 +/- 2 SE. Its networks are stood in for as a network trained on such a cohort behaves: the final network's
scores of its own training cases carry their (permuted) labels, because it memorised them, while its scores of
cases it never saw, the test cases and each fold network's validation fold, are noise. The old wiring fed those
memorised scores to the combined model (its cross-validated AUC on this cohort was 0.996); the fold networks'
validation predictions, which `hccp53 train classifier --fold all` leaves in `fold_<k>/`, must take their place.

Radiomics features come from a synthetic table (given as the radiomics cache) and clinical factors from the
datalist; both carry the true labels, which the permutation makes noise, like the networks' held-out scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from hccp53 import DEFAULT_PHASES
from hccp53.cli import main
from hccp53.errors import ConfigError, InputError
from hccp53.evaluation import workflow
from hccp53.evaluation.control import null_auc_se
from hccp53.evaluation.scoring import read_classifier
from hccp53.evaluation.stacking import (
    HELD_OUT_FOLD,
    IN_SAMPLE,
    OUT_OF_FOLD,
    Stacking,
    choose_dl_model,
    fold_predictions,
    held_out_predictions,
    read_held_out,
    stack_training_scores,
)
from hccp53.radiomics.extract import DEFAULT_SETTINGS, _fingerprint
from hccp53.stats.roc import auc

TRAINING, TEST, FOLDS = 240, 60, 5
NETWORK = {"backbone": "efficientnetv2_tiny", "fusion": "multichannel", "shared_encoder": True, "dropout": 0.0,
           "crop_spacing_mm": [4.0, 4.0, 4.0], "crop_size": [16, 16, 16]}  # fmt: skip


def null_se(labels: np.ndarray) -> float:
    """The SE of an AUC when the scores know nothing of the labels (:func:`hccp53.evaluation.control.null_auc_se`)."""
    return null_auc_se(int(labels.sum()), int((1 - labels).sum()))


def null_cohort(folder: Path) -> Path:
    """300 cases (240 training in 5 folds, 60 test; half of each split mutated) without images: clinical factors
    tied to a true label, then the labels permuted with a fixed seed. Phases and mask are named only (nothing
    reads them here)."""
    rng = np.random.default_rng(2024)
    truth = rng.permutation(np.arange(TRAINING + TEST) % 2)
    labels = rng.permutation(truth)
    cases = []
    for i, (true, label) in enumerate(zip(truth, labels, strict=True)):
        clinical = {"age": int(rng.normal(56 - 4 * true, 9)), "sex": "M" if rng.random() < 0.8 else "F",
                    "afp_ng_ml": round(float(rng.lognormal(2.0 + 2.0 * true, 2.0)), 1) + 1.0,
                    "hbv": int(rng.random() < 0.5 + 0.3 * true), "cirrhosis": int(rng.random() < 0.65)}  # fmt: skip
        cases.append({"case_id": f"N{i:03d}", **{p: f"{p}.nii.gz" for p in DEFAULT_PHASES}, "mask": "mask.nii.gz",
                      "label": int(label), "clinical": clinical, "true": int(true)})  # fmt: skip
    # the last fifth of each class is the test split (stratified, as `hccp53 synth` splits)
    test_ids = {c["case_id"] for part in (0, 1) for c in [c for c in cases if c["label"] == part][-TEST // 2:]}
    training = [c for c in cases if c["case_id"] not in test_ids]
    test = [c for c in cases if c["case_id"] in test_ids]
    for part in (0, 1):  # stratified folds, as `hccp53 prepare` assigns them
        members = [c for c in training if c["label"] == part]
        for k, case in enumerate(members):
            case["fold"] = k % FOLDS
    folder.mkdir(parents=True)
    datalist = folder / "datalist.json"
    datalist.write_text(json.dumps({"training": training, "test": test}))
    # the radiomics features: 30 columns, the first five shifted by the true label
    features = rng.normal(0, 1, (len(cases), 30))
    features[:, :5] += 1.0 * truth[:, None]
    table = pd.DataFrame(features, columns=[f"ap_original_feature{j}" for j in range(30)],
                         index=pd.Index([c["case_id"] for c in cases], name="case_id"))  # fmt: skip
    table.to_csv(folder / "radiomics.csv")
    Path(f"{folder / 'radiomics.csv'}.json").write_text(json.dumps(
        {"fingerprint": _fingerprint(DEFAULT_SETTINGS, tuple(DEFAULT_PHASES))}))  # fmt: skip
    return datalist


def memorised_scores(models, cases, **kwargs) -> pd.DataFrame:  # noqa: ANN001, ANN003
    """Stand-in for final networks trained on the permuted labels: they memorised their training cases (their
    scores of them carry those labels, AUC about 0.99) and know nothing of the test cases."""
    rng = np.random.default_rng(17)
    ids = pd.Index([str(c["case_id"]) for c in cases], name="case_id")
    training = np.array([c["split"] == "training" for c in cases])
    labels = np.array([c["label"] for c in cases])
    return pd.DataFrame({m.name: expit(np.where(training, 4.0 * (labels - 0.5), 0.0) + rng.normal(0, 1, len(cases)))
                         for m in models}, index=ids)  # fmt: skip


def classifier_folder(folder: Path, phases: list[str], **record: object) -> Path:
    """A classifier folder as far as the evaluation reads it without scoring (the scores are stood in for)."""
    folder.mkdir(parents=True)
    (folder / "p53_classifier.pt").write_bytes(b"stand-in weights")
    (folder / "network.json").write_text(json.dumps({**NETWORK, "phases": phases, **record}))
    return folder


def held_out_logits(datalist: Path, seed: int, spread: float = 1.0) -> pd.DataFrame:
    """Fold networks' validation predictions of the training cases: noise (they never saw these labels)."""
    training = json.loads(datalist.read_text())["training"]
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"case_id": [c["case_id"] for c in training], "label": [c["label"] for c in training],
                         "fold": [c["fold"] for c in training],
                         "logit": rng.normal(0, spread, len(training))})  # fmt: skip


def ensemble_folder(folder: Path, phases: list[str], predictions: pd.DataFrame,
                    calibration: dict | None = None, held_out: bool = True, optimism: float = 5.0) -> Path:
    """What `hccp53 train classifier --fold all` leaves: the ensemble's record listing its fold networks, and each
    fold folder with its network.json, held_out_predictions.csv (``predictions`` of its fold, which it neither
    trained nor validated on) and validation_predictions.csv (the next fold's, the logits raised by ``optimism``:
    the epoch was chosen on them). ``held_out=False``: a folder from before held-out folds, each fold network
    validated on its own fold (``predictions``) and nothing else."""
    folds = sorted(set(predictions["fold"]))
    classifier_folder(folder, phases, ensemble=len(folds), bounded_members=True,
                      members=[{"folder": f"fold_{k}"} for k in folds],
                      calibration=calibration or {"method": "none"})  # fmt: skip

    def write(rows: pd.DataFrame, path: Path) -> None:
        rows.assign(raw_logit=rows["logit"]).drop(columns="fold").to_csv(path, index=False)

    for index, k in enumerate(folds):
        rows = predictions[predictions["fold"] == k]
        if not held_out:
            write(rows, classifier_folder(folder / f"fold_{k}", phases, training={"fold": int(k)})
                  / "validation_predictions.csv")  # fmt: skip
            continue
        validation = folds[(index + 1) % len(folds)]
        member = classifier_folder(folder / f"fold_{k}", phases,
                                   training={"fold": int(validation), "held_out_fold": int(k)})  # fmt: skip
        write(rows, member / "held_out_predictions.csv")
        chosen_on = predictions[predictions["fold"] == validation]
        write(chosen_on.assign(logit=chosen_on["logit"] + optimism * chosen_on["label"]),
              member / "validation_predictions.csv")
    return folder


def evaluate(datalist: Path, out: Path, models: dict[str, Path], *extra: str) -> dict:
    argv = ["evaluate", "--datalist", str(datalist), "--models", *(f"{k}={v}" for k, v in models.items()),
            "--out", str(out), "--radiomics-cache", str(datalist.parent / "radiomics.csv"), "--cv", str(FOLDS),
            "--resamples", "100", "--workers", "1", "--no-progress", *extra]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("null")
    datalist = null_cohort(root / "cohort")
    return {"root": root, "datalist": datalist,
            "MC": ensemble_folder(root / "MC", ["t2", "ap", "pvp"], held_out_logits(datalist, 1)),
            "AP": ensemble_folder(root / "AP", ["ap"], held_out_logits(datalist, 2, spread=1.5))}  # fmt: skip


@pytest.fixture(scope="module")
def leak_test(cohort: dict[str, Path]) -> dict:
    """The whole evaluation of the null cohort, `--fold all` classifier folders given as the user gives them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workflow, "score_cases", memorised_scores)
        metrics = evaluate(cohort["datalist"], cohort["root"] / "out", {"MC": cohort["MC"], "AP": cohort["AP"]})
    return metrics


def test_no_model_predicts_permuted_labels(cohort: dict[str, Path], leak_test: dict) -> None:
    """Issue 24's leak test: every model's test AUC, and the combined model's cross-validated AUC, within
    0.5 +/- 2 SE on the permuted cohort, although the final networks memorised their training labels."""
    metrics = leak_test
    assert metrics["stacking"]["training_scores"] == {"MC": OUT_OF_FOLD, "AP": OUT_OF_FOLD}
    assert {"MC", "AP", "Radiomics", "Combined"} <= set(metrics["models"])
    table = pd.read_csv(cohort["root"] / "out" / "predictions.csv", dtype={"case_id": str})
    test = table[table["split"] == "test"]
    se = null_se(test["label"].to_numpy())
    for model in metrics["models"]:
        value = metrics["splits"]["test"]["models"][model]["auc"]
        assert abs(value - 0.5) <= 2 * se, f"{model}: test AUC {value:.3f} beyond 0.5 +/- {2 * se:.3f}"
    cv = metrics["cross_validation_fitted_models"]
    training = table[table["split"] == "training"]
    se = null_se(training["label"].to_numpy())
    assert "Combined" in cv and len(cv["Combined"]["fold_auc"]) == FOLDS
    pooled = cv["Combined"]["pooled_auc"]
    assert abs(pooled - 0.5) <= 2 * se, f"Combined: cross-validated AUC {pooled:.3f} beyond 0.5 +/- {2 * se:.3f}"


def test_the_memorised_scores_never_reach_the_training_rows(cohort: dict[str, Path], leak_test: dict) -> None:
    """The training rows hold the fold networks' held-out predictions, the test rows the final networks' scores;
    so the networks' own training figures are cross-validated ones, and near 0.5 here."""
    table = pd.read_csv(cohort["root"] / "out" / "predictions.csv", dtype={"case_id": str}).set_index("case_id")
    training = table[table["split"] == "training"]
    held = held_out_logits(cohort["datalist"], 1).set_index("case_id")
    np.testing.assert_allclose(training["MC"], expit(held.loc[training.index, "logit"]), rtol=1e-9)
    cases = [{**c, "split": part} for part, items in json.loads(cohort["datalist"].read_text()).items()
             for c in items]  # fmt: skip
    final = memorised_scores([read_classifier("MC", cohort["MC"])], cases)["MC"]
    test = table[table["split"] == "test"]
    np.testing.assert_allclose(test["MC"], final[test.index], rtol=1e-9)
    se = null_se(training["label"].to_numpy())
    assert abs(leak_test["splits"]["training"]["models"]["MC"]["auc"] - 0.5) <= 2 * se


def test_the_deep_learning_model_is_the_best_out_of_fold(leak_test: dict) -> None:
    """Not hard-wired to the first model: the higher out-of-fold AUC on the training split wins."""
    stacking = leak_test["stacking"]
    aucs = {m: v["auc"] for m, v in stacking["held_out_auc"].items()}
    assert stacking["chosen_by"] == "out-of-fold AUC" and set(aucs) == {"MC", "AP"}
    assert stacking["deep_learning_model"] == max(aucs, key=aucs.get)
    assert leak_test["combined_model"]["deep_learning_model"] == stacking["deep_learning_model"]
    assert all(v["cases"] == TRAINING for v in stacking["held_out_auc"].values())


def test_in_sample_scores_are_flagged_and_kept_out_of_the_cross_validation(
    cohort: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Positive control: the same cohort with classifier folders that hold no held-out predictions (a network
    trained on all training cases). The combined model then learns from the memorised scores: its training AUC is
    far above 0.5. The evaluation says so in the log, the report and metrics.json, and leaves the combined model
    out of the cross-validation instead of reporting a cross-validated AUC that is no such thing."""
    models = {"MC": classifier_folder(cohort["root"] / "plain" / "MC", ["t2", "ap", "pvp"]),
              "AP": classifier_folder(cohort["root"] / "plain" / "AP", ["ap"])}  # fmt: skip
    monkeypatch.setattr(workflow, "score_cases", memorised_scores)
    out = cohort["root"] / "in_sample"
    metrics = evaluate(cohort["datalist"], out, models, "--no-radiomics")
    stacking = metrics["stacking"]
    assert stacking["training_scores"] == {"MC": IN_SAMPLE, "AP": IN_SAMPLE}
    assert stacking["chosen_by"] == "first given" and stacking["deep_learning_model"] == "MC"
    assert stacking["combined_training_figures"] == "optimistic (in-sample deep-learning scores)"
    assert metrics["splits"]["training"]["models"]["Combined"]["auc"] > 0.9  # the leak, visible
    # the clinical model keeps no factor on noise labels: nothing is left to cross-validate, which is no error
    assert metrics["cross_validation_fitted_models"] == {}
    log = capsys.readouterr().err
    assert "The combined model's training-split figures are optimistic: MC's training scores are in-sample" in log
    assert "The combined model is left out of the cross-validation" in log
    html = (out / "report.html").read_text()
    assert "Out-of-fold stacking" in html and "training-split figures are optimistic" in html


def test_the_leak_test_sees_a_leak(cohort: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own positive control: memorised scores passed off as out-of-fold (as the old wiring used them)
    give the combined model a cross-validated AUC far outside 0.5 +/- 2 SE on the very same cohort."""
    cases = json.loads(cohort["datalist"].read_text())["training"]
    leaky = memorised_scores([read_classifier("MC", cohort["MC"])], [{**c, "split": "training"} for c in cases])
    path = cohort["root"] / "leaky_oof.csv"
    pd.DataFrame({"case_id": leaky.index, "probability": leaky["MC"].to_numpy()}).to_csv(path, index=False)
    monkeypatch.setattr(workflow, "score_cases", memorised_scores)
    metrics = evaluate(cohort["datalist"], cohort["root"] / "leaky", {"MC": cohort["MC"]}, "--no-radiomics",
                       "--oof", f"MC={path}")  # fmt: skip
    labels = np.array([c["label"] for c in cases])
    assert metrics["cross_validation_fitted_models"]["Combined"]["pooled_auc"] > 0.5 + 4 * null_se(labels)


# ---- the pieces ---------------------------------------------------------------------------------------------


def frame_of(training: int = 8, test: int = 4) -> pd.DataFrame:
    """A small evaluation table: alternating labels, final scores 0.9 on training rows and 0.5 on test rows."""
    ids = [f"C{i}" for i in range(training + test)]
    return pd.DataFrame({"label": [i % 2 for i in range(training + test)],
                         "split": ["training"] * training + ["test"] * test,
                         "MC": [0.9] * training + [0.5] * test, "AP": [0.9] * training + [0.5] * test},
                        index=pd.Index(ids, name="case_id"))  # fmt: skip


def held_csv(path: Path, ids: list[str], values: list[float], column: str = "probability", **extra: list) -> Path:
    pd.DataFrame({"case_id": ids, column: values, **extra}).to_csv(path, index=False)
    return path


def test_out_of_fold_predictions_replace_the_training_scores_only(tmp_path: Path) -> None:
    frame = frame_of()
    training = frame.index[frame["split"] == "training"]
    values = list(np.linspace(0.1, 0.8, len(training)))
    held = {"MC": read_held_out(held_csv(tmp_path / "mc.csv", list(training), values), "MC")}
    stacking = stack_training_scores(frame, training, ["MC", "AP"], held)
    assert stacking.kinds == {"MC": OUT_OF_FOLD, "AP": IN_SAMPLE}
    np.testing.assert_allclose(frame.loc[training, "MC"], values)
    assert (frame.loc[frame["split"] == "test", "MC"] == 0.5).all() and (frame.loc[training, "AP"] == 0.9).all()


def test_a_logit_column_is_read_as_log_odds(tmp_path: Path) -> None:
    held = read_held_out(held_csv(tmp_path / "p.csv", ["A", "B"], [0.0, 2.0], column="logit"), "MC")
    np.testing.assert_allclose(held.probability.to_numpy(), expit([0.0, 2.0]))


def test_held_out_predictions_of_a_test_case_are_refused(tmp_path: Path) -> None:
    """A test case among the held-out cases: the network was trained on another split (the folds' other
    networks saw it), so its test figures would be optimistic."""
    frame = frame_of()
    training = frame.index[frame["split"] == "training"]
    held = {"MC": read_held_out(held_csv(tmp_path / "mc.csv", [*training, "C9"], [0.5] * 9), "MC")}
    with pytest.raises(InputError, match=r"include test case\(s\) C9: MC was trained on another split"):
        stack_training_scores(frame, training, ["MC"], held)


def test_held_out_labels_must_match_the_datalist(tmp_path: Path) -> None:
    frame = frame_of()
    training = frame.index[frame["split"] == "training"]
    labels = [1 - y for y in frame.loc[training, "label"]]
    held = {"MC": read_held_out(held_csv(tmp_path / "mc.csv", list(training), [0.5] * 8, label=labels), "MC")}
    with pytest.raises(InputError, match=r"give case\(s\) C0, C1, .* another label than the datalist"):
        stack_training_scores(frame, training, ["MC"], held)


@pytest.mark.parametrize(("content", "message"), [
    ("case_id,score\nA,0.5\n", "need a case_id column and a logit or probability column"),
    ("case_id,probability\nA,0.5\nA,0.4\n", r"score case\(s\) A more than once"),
    ("case_id,probability\nA,1.5\n", r"probability that is not in \[0, 1\] for case\(s\) A"),
    ("case_id,logit\nA,x\n", r"logit that is not a finite number for case\(s\) A"),
])  # fmt: skip
def test_a_bad_held_out_file_is_one_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "oof.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_held_out(path, "MC")


def test_a_one_fold_run_has_held_out_predictions_of_its_fold_only(tmp_path: Path) -> None:
    """`hccp53 train classifier` with one fold: its validation fold is held out, the other training cases are
    in-sample; the choice then falls back on that fold's AUC, and the scores stay in-sample."""
    frame = frame_of()
    training = frame.index[frame["split"] == "training"]
    folder = classifier_folder(tmp_path / "MC", ["ap"], training={"fold": 2})
    held_csv(folder / "validation_predictions.csv", ["C0", "C1", "C2", "C3"], [0.2, 0.7, 0.4, 0.6],
             label=[0, 1, 0, 1])  # fmt: skip
    held = fold_predictions(read_classifier("MC", folder))
    assert set(held.fold) == {2}
    stacking = stack_training_scores(frame, training, ["MC", "AP"], {"MC": held})
    assert stacking.kinds == {"MC": HELD_OUT_FOLD, "AP": IN_SAMPLE}
    assert (frame.loc[training, "MC"] == 0.9).all()  # in-sample scores kept
    choice = choose_dl_model(frame, training, ["AP", "MC"], stacking)
    assert (choice.model, choice.rule) == ("MC", "held-out fold AUC") and choice.aucs["MC"] == {
        "auc": 1.0, "cases": 4, "scores": HELD_OUT_FOLD}


def test_an_ensembles_fold_predictions_are_put_on_its_scale(tmp_path: Path) -> None:
    """The pooled fold predictions get the ensemble's own calibration (slope * clip(z, lo, hi) + intercept), the
    scale of its test scores."""
    predictions = pd.DataFrame({"case_id": ["A", "B", "C", "D"], "label": [0, 1, 0, 1], "fold": [0, 0, 1, 1],
                                "logit": [-3.0, 0.5, 1.0, 4.0]})  # fmt: skip
    calibration = {"method": "platt", "slope": 0.5, "intercept": -0.2, "raw_logit_range": [-2.0, 2.0]}
    folder = ensemble_folder(tmp_path / "MC", ["ap"], predictions, calibration)
    held = fold_predictions(read_classifier("MC", folder))
    expected = expit(0.5 * np.clip([-3.0, 0.5, 1.0, 4.0], -2.0, 2.0) - 0.2)
    np.testing.assert_allclose(held.probability[["A", "B", "C", "D"]].to_numpy(), expected)
    assert held.fold[["A", "C"]].tolist() == [0, 1]


def test_an_ensemble_member_without_predictions_leaves_the_scores_in_sample(tmp_path: Path) -> None:
    predictions = pd.DataFrame({"case_id": ["A", "B"], "label": [0, 1], "fold": [0, 1], "logit": [0.1, 0.2]})
    folder = ensemble_folder(tmp_path / "MC", ["ap"], predictions)
    (folder / "fold_1" / "held_out_predictions.csv").unlink()
    (folder / "fold_1" / "validation_predictions.csv").unlink()
    assert fold_predictions(read_classifier("MC", folder)) is None


def test_an_ensemble_stacks_its_held_out_folds_not_the_folds_that_chose_its_epochs(tmp_path: Path) -> None:
    """Each fold network kept the epoch that scored its validation fold best, so its validation predictions are
    optimistic (here raised by 5 on the mutated cases); the fold it held out of both is what stacking reads."""
    predictions = pd.DataFrame({"case_id": list("ABCDEF"), "label": [0, 1, 0, 1, 0, 1], "fold": [0, 0, 1, 1, 2, 2],
                                "logit": [0.3, -0.2, 0.1, 0.0, -0.4, 0.2]})  # fmt: skip
    held = fold_predictions(read_classifier("MC", ensemble_folder(tmp_path / "MC", ["ap"], predictions)))
    np.testing.assert_allclose(held.probability[list("ABCDEF")].to_numpy(), expit(predictions["logit"].to_numpy()))
    assert held.fold[list("ACE")].tolist() == [0, 1, 2] and "held-out predictions" in held.source


def test_an_ensemble_from_before_held_out_folds_stacks_its_validation_folds_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    predictions = pd.DataFrame({"case_id": list("ABCD"), "label": [0, 1, 0, 1], "fold": [0, 0, 1, 1],
                                "logit": [0.3, -0.2, 0.1, 0.0]})  # fmt: skip
    folder = ensemble_folder(tmp_path / "MC", ["ap"], predictions, held_out=False)
    with caplog.at_level("WARNING"):
        held = fold_predictions(read_classifier("MC", folder))
    np.testing.assert_allclose(held.probability[list("ABCD")].to_numpy(), expit(predictions["logit"].to_numpy()))
    assert "optimistic" in held.source and "predate held-out folds" in caplog.text


def test_the_choice_of_the_deep_learning_model() -> None:
    frame = frame_of()
    training = frame.index[frame["split"] == "training"]
    good = pd.Series([0.1, 0.9] * 4, index=training)
    poor = pd.Series([0.5, 0.4, 0.6, 0.5] * 2, index=training)
    from hccp53.evaluation.stacking import HeldOut

    def held(values: pd.Series) -> HeldOut:
        return HeldOut(values, None, pd.Series(-1, index=values.index), "test")

    stacking = Stacking({"MC": OUT_OF_FOLD, "AP": OUT_OF_FOLD}, {"MC": held(poor), "AP": held(good)})
    choice = choose_dl_model(frame, training, ["MC", "AP"], stacking)
    assert (choice.model, choice.rule) == ("AP", "out-of-fold AUC") and choice.refit_in_folds
    assert auc(frame.loc[training, "label"], poor) == choice.aucs["MC"]["auc"]
    tie = Stacking({"MC": OUT_OF_FOLD, "AP": OUT_OF_FOLD}, {"MC": held(good), "AP": held(good)})
    assert choose_dl_model(frame, training, ["MC", "AP"], tie).model == "MC"  # ties: the first given
    named = choose_dl_model(frame, training, ["MC", "AP"], stacking, requested="MC")
    assert (named.model, named.rule, named.refit_in_folds) == ("MC", "named", False)
    nothing = choose_dl_model(frame, training, ["AP", "MC"], Stacking({"MC": IN_SAMPLE, "AP": IN_SAMPLE}, {}))
    assert (nothing.model, nothing.rule) == ("AP", "first given")
    with pytest.raises(ConfigError, match="--dl-model 'FF' is not one of the models given"):
        choose_dl_model(frame, training, ["MC", "AP"], stacking, requested="FF")
    with pytest.raises(ConfigError, match="--oof names FF, which is not one of the models given"):
        held_out_predictions([], {"FF": "x.csv"})


def test_oof_goes_with_datalist(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text("case_id,label,M\nA,0,0.1\nB,1,0.9\n")
    assert main(["evaluate", "--predictions", str(scores), "--out", str(tmp_path / "o"), "--oof",
                 "M=x.csv"]) == 1  # fmt: skip
    assert "--models and --oof go with --datalist" in capsys.readouterr().err
