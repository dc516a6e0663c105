"""The full evaluation (`hccp53 evaluate --datalist --models`) on a small synthetic cohort, end to end.

The classifiers' scores are stood in for by label-informed noise (networks trained for a test's minute
score every case alike): this checks the plumbing — radiomics, stepwise clinical model, combined model,
nomogram, cross-validation, report — not the accuracy, which `make evaluation` measures on the 400-case cohort.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logit

from hccp53.checksums import record_checksums
from hccp53.cli import main
from hccp53.evaluation import workflow
from hccp53.model import finish_record
from hccp53.nets import build_classifier
from hccp53.synth.cohort import generate_cohort

NETWORK = {"backbone": "efficientnetv2_tiny", "fusion": "multichannel", "shared_encoder": True, "dropout": 0.0,
           "crop_spacing_mm": [4.0, 4.0, 4.0], "crop_size": [16, 16, 16]}  # fmt: skip


def model_folder(folder: Path, phases: list[str]) -> Path:
    """A classifier folder as `hccp53 train` leaves it (weights, checksums.json, network.json)."""
    folder.mkdir(parents=True)
    network = build_classifier(NETWORK["backbone"], phases, spatial_dims=3, num_classes=2, dropout=0.0)
    torch.save(network.state_dict(), folder / "p53_classifier.pt")
    record_checksums(folder)
    finish_record(folder, "p53_classifier.pt", "network.json", {**NETWORK, "phases": phases})
    return folder


def informative_scores(models, cases, **kwargs) -> pd.DataFrame:  # noqa: ANN001, ANN003
    """Stand-in for the networks' scores: P(mutated) that carries the label plus noise, per model.

    Networks trained for a test's minute score every case alike; `score_cases` itself is checked against
    the bundle's evaluation in tests/bundle/test_workflows.py.
    """
    rng = np.random.default_rng(3)
    labels = np.array([c["label"] for c in cases])
    ids = pd.Index([str(c["case_id"]) for c in cases], name="case_id")
    return pd.DataFrame({m.name: 1 / (1 + np.exp(-(labels - 0.5 + rng.normal(0, 1.0 + k, len(cases)))))
                         for k, m in enumerate(models)}, index=ids)  # fmt: skip


def write_oof(datalist: Path, stand_in, path: Path, name: str = "MC") -> Path:  # noqa: ANN001
    """Out-of-fold predictions of the training cases as `--oof NAME=CSV` reads them (case_id, probability, label):
    the stand-in's scores of the training cases alone (other noise than its scores of all cases)."""
    cases = json.loads(datalist.read_text())["training"]
    scores = stand_in([SimpleNamespace(name=name)], cases)[name]
    pd.DataFrame({"case_id": scores.index, "probability": scores.to_numpy(),
                  "label": [c["label"] for c in cases]}).to_csv(path, index=False)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("workflow")
    generate_cohort(root / "cohort", 36, seed=11, profile="small", workers=2, progress=False, preview=False)
    datalist = root / "cohort" / "datalist.json"
    models = {"MC": model_folder(root / "MC", ["t2", "ap", "pvp"]), "AP": model_folder(root / "AP", ["ap"])}
    argv = ["evaluate", "--datalist", str(datalist), "--models", *(f"{k}={v}" for k, v in models.items()),
            "--out", str(root / "out"), "--radiomics-phases", "ap,pvp", "--resamples", "200", "--cv", "3",
            # a few candidates: on 28 training cases in 3 folds, more terms separate the classes in some fold
            "--clinical", "age,sex,log10_afp_ng_ml,hbv,cirrhosis,albi_score,tumor_size_mm,tumor_number",
            "--workers", "1", "--no-progress",
            "--oof", f"MC={write_oof(datalist, informative_scores, root / 'oof_mc.csv')}"]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workflow, "score_cases", informative_scores)
        assert main(argv) == 0
    return {"root": root, "out": root / "out", "datalist": datalist, **models}


def test_every_model_of_the_papers_is_evaluated(evaluated: dict[str, Path]) -> None:
    metrics = json.loads((evaluated["out"] / "metrics.json").read_text())
    assert metrics["models"][:3] == ["MC", "AP", "Radiomics"] and metrics["models"][-1] == "Combined"
    assert set(metrics["splits"]) == {"training", "test"}
    datalist = json.loads(evaluated["datalist"].read_text())
    assert metrics["excluded_cases"] == []  # every case has t2, ap and pvp
    assert metrics["splits"]["test"]["cases"] == len(datalist["test"])
    combined = metrics["combined_model"]
    assert combined["terms"][:2] == ["dl_logit", "rad_score"] and combined["deep_learning_model"] == "MC"
    assert metrics["stacking"]["training_scores"] == {"MC": "out-of-fold", "AP": "in-sample"}
    assert metrics["stacking"]["chosen_by"] == "out-of-fold AUC"  # the only model with out-of-fold scores
    assert combined["radiomics_features"], "the radiomics model selected nothing"
    cv = metrics["cross_validation_fitted_models"]
    assert {"Radiomics", "Combined"} <= set(cv) and len(cv["Combined"]["fold_auc"]) == 3


def test_test_cases_get_the_logistic_model_of_their_scores(evaluated: dict[str, Path]) -> None:
    metrics = json.loads((evaluated["out"] / "metrics.json").read_text())
    combined = metrics["combined_model"]
    table = pd.read_csv(evaluated["out"] / "predictions.csv", dtype={"case_id": str}).set_index("case_id")
    table = table[table["split"] == "test"]  # training rows use out-of-fold radiomics scores
    clinical = {c["case_id"]: c["clinical"] for part in ("training", "test")
                for c in json.loads(evaluated["datalist"].read_text())[part]}  # fmt: skip
    lp = np.full(len(table), combined["coefficients"]["Intercept"])
    for name, beta in combined["coefficients"].items():
        if name == "Intercept":
            continue
        if name == "dl_logit":
            values = logit(np.clip(table["MC"].to_numpy(), 1e-6, 1 - 1e-6))
        elif name == "rad_score":
            values = logit(table["Radiomics"].to_numpy())
        elif "[T." in name:
            term, level = name.split("[T.")
            values = np.array([str(clinical[i][term]) == level[:-1] for i in table.index], dtype=float)
        else:
            key = name[len("log10_"):] if name.startswith("log10_") else name
            raw = np.array([float(clinical[i][key]) for i in table.index])
            values = np.log10(raw) if name.startswith("log10_") else raw
        lp += beta * values
    np.testing.assert_allclose(table["Combined"], 1 / (1 + np.exp(-lp)), atol=1e-9)


def test_the_report_shows_the_fitted_models_and_the_nomogram(evaluated: dict[str, Path]) -> None:
    out = evaluated["out"]
    assert (out / "figures" / "nomogram.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    for title in ("Radiomics model", "Clinical model", "Combined model and nomogram", "DeLong test p-values"):
        assert title in html
    univariable = pd.read_csv(out / "table_clinical_univariable.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    candidates = metrics["clinical_candidates"]
    assert {t.split("[")[0] for t in univariable["term"]} == set(candidates)  # every candidate, alone
    assert (univariable["ci_low"] <= univariable["odds_ratio"]).all()
    assert (univariable["odds_ratio"] <= univariable["ci_high"]).all()
    multivariable = pd.read_csv(out / "table_clinical_multivariable.csv")
    kept = metrics["combined_model"]["clinical_terms"]
    assert {t.split("[")[0] for t in multivariable["term"]} == set(kept)
    assert "Univariable logistic regressions" in html
    baseline = pd.read_csv(out / "table_baseline.csv")
    assert {"training: p", "test: p"} <= set(baseline.columns) and "Baseline characteristics (Table 1)" in html
    assert set(baseline["variable"]) >= {"n", "age", "sex", "afp_ng_ml"}
    assert html.count("data:image/png;base64,") == len(list((out / "figures").glob("*.png")))
    # 28 training cases: the selection keeps no factor here, so the clinical model has no nomogram of its own
    assert not kept and not (out / "figures" / "nomogram_clinical.png").exists()


def test_a_clinical_model_that_keeps_factors_gets_its_own_nomogram(tmp_path: Path) -> None:
    """Seed 2 draws nomograms (plural): the clinical model's, beside the combined model's."""
    from hccp53.evaluation.fitted import _fit_clinical, _univariable_odds_ratios

    rng = np.random.default_rng(5)
    n = 200
    table = pd.DataFrame({"age": rng.normal(58, 11, n).round(), "hbv": rng.integers(0, 2, n),
                          "tumor_size_mm": rng.gamma(4, 12, n)}, index=[f"C{k}" for k in range(n)])  # fmt: skip
    risk = 0.06 * (table["tumor_size_mm"] - 48) + 1.2 * table["hbv"] - 0.6
    labels = pd.Series((rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int), index=table.index)
    train = table.index[:150]
    candidates = ["age", "hbv", "tumor_size_mm"]
    stepwise = _fit_clinical(table, labels, train, candidates)
    assert {"hbv", "tumor_size_mm"} <= set(stepwise.terms)
    fitted = {"clinical": stepwise, "clinical_table": table.loc[train, list(stepwise.terms)], "left_out": {},
              "clinical_univariable": _univariable_odds_ratios(table.loc[train], labels.loc[train], candidates)[0]}
    sections, files, _ = workflow._model_sections(fitted, "MC", tmp_path)
    assert files == [tmp_path / "nomogram_clinical.png"] and files[0].stat().st_size > 10_000
    clinical = next(section for section in sections if section.title == "Clinical model")
    assert clinical.figures == [("Nomogram of the clinical model (points as in rms::nomogram).", files[0])]


def test_a_model_folder_without_network_json_is_one_sentence(evaluated: dict[str, Path], tmp_path: Path) -> None:
    (evaluated["AP"] / "network.json").rename(tmp_path / "network.json")
    try:
        result = subprocess.run([sys.executable, "-m", "hccp53", "evaluate", "--datalist", str(evaluated["datalist"]),
                                 "--models", f"AP={evaluated['AP']}", "--out", str(tmp_path / "out")],
                                capture_output=True, text=True, check=False)  # fmt: skip
    finally:
        (tmp_path / "network.json").rename(evaluated["AP"] / "network.json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has no network.json" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_bundle_report_step_runs_the_same_workflow(evaluated: dict[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """configs/evaluate.yaml's `report` calls evaluate_datalist with plain values."""
    monkeypatch.setattr(workflow, "score_cases", informative_scores)
    metrics = workflow.evaluate_datalist(evaluated["datalist"], {"MC": evaluated["MC"]}, tmp_path / "report",
                                         radiomics=False, clinical=False, n_resamples=200, seed=5,
                                         progress=False)  # fmt: skip
    # without radiomics and clinical models there is nothing to combine MC with: no "Combined" copy of it
    assert metrics["models"] == ["MC"] and metrics["settings"]["n_resamples"] == 200
    assert "terms" not in metrics["combined_model"] and not metrics["combined_model"]["left_out"]
    assert (tmp_path / "report" / "report.html").is_file()


def constant_scores(models, cases, **kwargs) -> pd.DataFrame:  # noqa: ANN001, ANN003
    """Stand-in for a network that has not learned: the same probability for every case."""
    ids = pd.Index([str(c["case_id"]) for c in cases], name="case_id")
    return pd.DataFrame({m.name: np.full(len(cases), 0.5) for m in models}, index=ids)


def test_a_cohort_of_its_own_with_a_constant_score_gets_every_model_it_can_fit(
    evaluated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A user's first run: clinical keys of their own (AFP in raw ng/ml, a key one case lacks) and a network that
    gives every case the same score. The candidates are the datalist's keys, AFP enters logged, and only what
    cannot be fitted is left out, with a warning and a line in the report."""
    datalist = json.loads(evaluated["datalist"].read_text())
    rng = np.random.default_rng(7)
    for part in ("training", "test"):
        for case in datalist[part]:
            old = case["clinical"]
            afp = float(rng.lognormal(3 + 2.5 * case["label"], 2))  # informative, over several decades
            case["clinical"] = {"age": old["age"], "sex": old["sex"], "afp_ng_ml": afp, "hbv": old["hbv"],
                                "cirrhosis": old["cirrhosis"]}  # fmt: skip
    datalist["training"][0]["clinical"]["smoker"] = 1  # not given for every case: not a candidate
    own = evaluated["datalist"].with_name("own_datalist.json")
    own.write_text(json.dumps(datalist))
    monkeypatch.setattr(workflow, "score_cases", constant_scores)
    argv = ["evaluate", "--datalist", str(own), "--models", f"MC={evaluated['MC']}", "--out", str(tmp_path / "out"),
            "--no-radiomics", "--resamples", "100", "--workers", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    log = capsys.readouterr().err  # the command's log
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["clinical_candidates"] == ["age", "sex", "log10_afp_ng_ml", "hbv", "cirrhosis"]
    assert "MC" in metrics["models"]
    left_out = metrics["combined_model"]["left_out"]
    assert left_out == {"Combined: dl_logit": "constant on the training cases"}
    assert "Combined" in metrics["models"] and "dl_logit" not in metrics["combined_model"]["terms"]
    assert "dl_logit is (nearly) constant on the training cases" in log
    assert "Clinical keys not given for every case are not candidates: smoker." in log
    assert "Models left out" in (tmp_path / "out" / "report.html").read_text()


def own_cohort(folder: Path, hbv_levels: tuple[str, str] | None = None) -> Path:
    """The issue's cohort of a user's own: 240 cases (192 training, 48 test), clinical keys age, sex, afp_ng_ml,
    hbv and cirrhosis only, and no images (nothing reads them with --no-radiomics and stand-in scores).

    AFP is informative and spans five decades in ng/ml, one case in seven recorded as 0 (below the detection
    limit). ``hbv_levels`` (negative, positive) writes hbv as text, strongly tied to the label.
    """
    rng = np.random.default_rng(5)
    cases = []
    for i in range(240):
        label = int(rng.random() < 0.57)
        afp = 0.0 if i % 7 == 0 else round(float(rng.lognormal(2.0 + 2.5 * label, 2.0)), 1)
        hbv: int | str = int(rng.random() < 0.8)
        if hbv_levels is not None:
            hbv = hbv_levels[int(rng.random() < (0.9 if label else 0.3))]
        clinical = {"age": int(rng.normal(56, 9)), "sex": "M" if rng.random() < 0.8 else "F", "afp_ng_ml": afp,
                    "hbv": hbv, "cirrhosis": int(rng.random() < 0.65)}  # fmt: skip
        cases.append({"case_id": f"P{i:03d}", "t2": "t2.nii.gz", "ap": "ap.nii.gz", "pvp": "pvp.nii.gz",
                      "mask": "mask.nii.gz", "label": label, "clinical": clinical})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    datalist = folder / "datalist.json"
    datalist.write_text(json.dumps({"training": cases[:192], "test": cases[192:]}))
    return datalist


def weak_scores(models, cases, **kwargs) -> pd.DataFrame:  # noqa: ANN001, ANN003
    """Stand-in for a briefly trained network: every probability within about 1e-4 of 0.53 (float32), faintly
    label-informed; not constant, so every model that uses it can be fitted."""
    rng = np.random.default_rng(9)
    labels = np.array([c["label"] for c in cases])
    spread = np.float32(1e-5) * (rng.normal(0, 1, len(cases)) + 0.3 * labels).astype(np.float32)
    ids = pd.Index([str(c["case_id"]) for c in cases], name="case_id")
    return pd.DataFrame({m.name: (np.float32(0.53) + spread).astype(float) for m in models}, index=ids)


def evaluate_own(datalist: Path, out: Path, *extra: str) -> int:
    """`hccp53 evaluate --datalist` as the issue's user ran it: their own cohort, no radiomics."""
    model = datalist.parent / "MC"
    if not model.exists():
        model_folder(model, ["t2", "ap", "pvp"])
    oof = write_oof(datalist, weak_scores, datalist.parent / "oof_mc.csv")
    return main(["evaluate", "--datalist", str(datalist), "--models", f"MC={model}", "--out", str(out),
                 "--no-radiomics", "--resamples", "100", "--workers", "1", "--no-progress", "--oof", f"MC={oof}",
                 *extra])  # fmt: skip


def test_a_cohort_of_its_own_with_a_weak_score_gets_every_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Issue 24, item 7 on a cohort of the issue's size: the candidates are the datalist's keys; AFP, skewed over
    five decades with zeros, enters as log10(AFP + 1); a weak (nearly but not exactly constant) deep-learning score
    still enters the combined model; nothing is left out, cross-validation included."""
    datalist = own_cohort(tmp_path / "cohort")
    monkeypatch.setattr(workflow, "score_cases", weak_scores)
    assert evaluate_own(datalist, tmp_path / "out", "--cv", "3") == 0
    log = capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["clinical_candidates"] == ["age", "sex", "log10p1_afp_ng_ml", "hbv", "cirrhosis"]
    assert metrics["models"] == ["MC", "Clinical", "Combined"]
    combined = metrics["combined_model"]
    assert combined["left_out"] == {} and "WARNING" not in log
    assert combined["terms"][0] == "dl_logit" and "log10p1_afp_ng_ml" in combined["clinical_terms"]
    assert set(metrics["cross_validation_fitted_models"]) == {"Clinical", "Combined"}
    # the combined model's probabilities are the logistic of its coefficients on logit(p) and log10(AFP + 1)
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"case_id": str}).set_index("case_id")
    cases = {c["case_id"]: c for part in ("training", "test") for c in json.loads(datalist.read_text())[part]}
    columns = {"Intercept": np.ones(len(table)), "dl_logit": logit(table["MC"].to_numpy()),
               "log10p1_afp_ng_ml": np.log10([cases[i]["clinical"]["afp_ng_ml"] + 1.0 for i in table.index])}
    for term in combined["clinical_terms"]:
        if term != "log10p1_afp_ng_ml":  # the others are numeric 0/1 or age here; sex is a factor
            columns.setdefault(term, np.array([cases[i]["clinical"][term] for i in table.index], dtype=float))
    lp = sum(beta * columns[name] for name, beta in combined["coefficients"].items())
    np.testing.assert_allclose(table["Combined"], 1 / (1 + np.exp(-lp)), rtol=1e-6)


def test_a_factor_that_cannot_be_used_leaves_out_only_what_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A candidate constant on the training cases is left out of the selection with one warning; a factor level
    that only a test case has leaves the clinical model out (it cannot score that case), with a warning and a
    line in the report, and the combined model goes on without the clinical factors."""
    datalist = own_cohort(tmp_path / "cohort", hbv_levels=("negative", "positive"))
    content = json.loads(datalist.read_text())
    for case in content["training"]:
        case["clinical"]["cirrhosis"] = 1
    content["test"][0]["clinical"]["hbv"] = "not tested"
    datalist.write_text(json.dumps(content))
    monkeypatch.setattr(workflow, "score_cases", weak_scores)
    assert evaluate_own(datalist, tmp_path / "out") == 0
    log = capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    left_out = metrics["combined_model"]["left_out"]
    assert set(left_out) == {"Clinical: cirrhosis", "Clinical"}
    assert "cirrhosis is (nearly) constant" in left_out["Clinical: cirrhosis"]
    assert "'hbv' has level(s) ['not tested'] not seen" in left_out["Clinical"]
    assert log.count("Clinical factor cirrhosis is left out of the candidates") == 1 and "skipping step" not in log
    assert log.count("The clinical model is left out: Clinical factor 'hbv'") == 1
    assert metrics["models"] == ["MC", "Combined"] and metrics["combined_model"]["terms"] == ["dl_logit"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Models left out" in html and "not tested" in html


def radiomics_caches(datalist: Path, cache: Path) -> None:
    """Radiomics features of the own cohort's cases, written as `--radiomics-cache` and its perturbed-mask caches
    would hold them (so nothing is extracted). ``ap_unstable`` carries the label more strongly than
    ``ap_stable`` inside the original mask but is noise inside the eroded and dilated ones; the ``t2_noise``
    features are stable noise. The perturbed caches hold the test cases too, as if a careless run had extracted
    them: the evaluation must not ask for them."""
    from hccp53 import DEFAULT_PHASES
    from hccp53.radiomics.extract import DEFAULT_SETTINGS, _fingerprint

    content = json.loads(datalist.read_text())
    cases = content["training"] + content["test"]
    ids = pd.Index([c["case_id"] for c in cases], name="case_id")
    y = np.array([c["label"] for c in cases])
    rng = np.random.default_rng(12)
    stable = y + rng.normal(0, 0.8, len(y))
    noise = rng.normal(0, 1, (len(y), 6))
    for how, unstable in ((None, 2.0 * y + rng.normal(0, 0.5, len(y))), ("erode", rng.normal(0, 1.5, len(y))),
                          ("dilate", rng.normal(0, 1.5, len(y)))):  # fmt: skip
        jitter = 0.0 if how is None else 0.05
        table = pd.DataFrame({"ap_stable": stable + rng.normal(0, jitter, len(y)), "ap_unstable": unstable,
                              **{f"t2_noise_{j}": noise[:, j] + rng.normal(0, jitter, len(y)) for j in range(6)}},
                             index=ids)  # fmt: skip
        path = cache if how is None else cache.with_name(f"{cache.stem}_{how}.csv")
        table.to_csv(path)
        fingerprint = _fingerprint(DEFAULT_SETTINGS, tuple(DEFAULT_PHASES), how)
        Path(f"{path}.json").write_text(json.dumps({"fingerprint": fingerprint}))


def test_the_icc_filter_drops_unstable_radiomics_features_on_the_training_cases_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--icc 0.75`: features are read inside the eroded and dilated masks for the training cases alone, the
    unstable feature is not selected although it is the most informative, and metrics.json, the report and a CSV
    say how many features the filter kept per phase."""
    from hccp53.radiomics import extract

    datalist = own_cohort(tmp_path / "cohort")
    cache = tmp_path / "radiomics.csv"
    radiomics_caches(datalist, cache)
    calls: list[dict] = []
    real = extract.extract_cohort

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "extract_cohort", spy)
    monkeypatch.setattr(workflow, "score_cases", weak_scores)
    model = model_folder(tmp_path / "MC", ["t2", "ap", "pvp"])
    common = ["evaluate", "--datalist", str(datalist), "--models", f"MC={model}", "--radiomics-cache", str(cache),
              "--no-clinical", "--resamples", "100", "--workers", "1", "--no-progress"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert plain["radiomics_icc"] == {"enabled": False}
    assert "ap_unstable" in plain["combined_model"]["radiomics_features"]
    assert [c.get("perturbation") for c in calls] == [None]

    calls.clear()
    assert main([*common, "--out", str(tmp_path / "icc"), "--icc", "0.75", "--cv", "3"]) == 0
    training = {c["case_id"] for c in json.loads(datalist.read_text())["training"]}
    perturbed = [c for c in calls if c.get("perturbation")]
    assert [c["perturbation"] for c in perturbed] == ["erode", "dilate"]
    assert all(c["parts"] == ("training",) and set(c["case_ids"]) == training for c in perturbed)
    metrics = json.loads((tmp_path / "icc" / "metrics.json").read_text())
    icc = metrics["radiomics_icc"]
    assert icc["enabled"] and icc["threshold"] == 0.75 and icc["form"].startswith("ICC(2,1)")
    assert icc["kept_per_phase"] == {"ap": {"kept": 1, "of": 2}, "t2": {"kept": 6, "of": 6}}
    assert (icc["kept"], icc["of"]) == (7, 8)
    assert set(metrics["combined_model"]["radiomics_features"]) <= {"ap_stable", *(f"t2_noise_{j}" for j in range(6))}
    assert "Radiomics" in metrics["cross_validation_fitted_models"]
    table = pd.read_csv(tmp_path / "icc" / "radiomics_icc.csv").set_index("feature")["icc"]
    assert table["ap_unstable"] < 0.2 < 0.95 < table["ap_stable"]
    report = (tmp_path / "icc" / "report.html").read_text()
    assert "ICC filter" in report and "7 of 8 kept" in report


def test_the_icc_filter_is_refused_where_it_has_nothing_to_filter(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"case_id": ["a", "b"], "label": [0, 1], "M": [0.2, 0.7]}).to_csv(scores, index=False)
    assert main(["evaluate", "--predictions", str(scores), "--out", str(tmp_path / "out"), "--icc", "0.75"]) != 0
    assert "--icc filters the radiomics features of --datalist" in capsys.readouterr().err
    datalist = own_cohort(tmp_path / "cohort")
    assert main(["evaluate", "--datalist", str(datalist), "--out", str(tmp_path / "out"), "--models",
                 f"MC={tmp_path}", "--no-radiomics", "--icc", "0.75"]) != 0  # fmt: skip
    assert "it does not go with --no-radiomics" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--datalist", str(datalist), "--out", str(tmp_path / "out"), "--icc", "1.2"])
    assert "must lie strictly between 0 and 1, got 1.2" in capsys.readouterr().err
