"""Model sets (configs/model_sets/*.yaml) and their runner, scripts/model_set.py.

The set files are checked as written; a wrong key, phase, backbone or comparison is refused with one
sentence. The runner's plan, resumption and refusals are checked with the commands stood in for (each
writes what the real one would leave); the `slow` smoke test runs a whole set on a tiny scale.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hccp53.errors import ConfigError, OutputError
from hccp53.evaluation.model_set import load_model_set, parse_model_set

ROOT = Path(__file__).resolve().parents[2]


def _runner() -> Any:
    spec = importlib.util.spec_from_file_location("model_set_runner", ROOT / "scripts" / "model_set.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runner() -> Any:
    return _runner()


def _seed(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "configs" / "model_sets" / f"{name}.yaml").read_text())


# -- the set files ------------------------------------------------------------------------------------------


def test_seed1_is_the_papers_design() -> None:
    seed1 = load_model_set("seed1", ROOT)
    assert seed1.version >= 1 and seed1.cohort.cases == 312 and seed1.cohort.test_fraction == 0.2
    assert {m.name: m.phases for m in seed1.models} == {
        "T2": ("t2",), "AP": ("ap",), "PVP": ("pvp",), "HBP": ("hbp",),
        "MC": ("t2", "ap", "pvp"), "MC_HBP": ("t2", "ap", "pvp", "hbp")}  # fmt: skip
    assert {m.backbone for m in seed1.models} == {"efficientnetv2_tiny"}
    assert seed1.evaluation.fitted_models() == ()  # no radiomics or clinical model in the paper
    assert ("MC_HBP", "MC") in seed1.evaluation.comparisons
    # every patient had a hepatobiliary phase: the HBP models do not lose a third of the cohort
    assert seed1.cohort.synth_config()["protocol"] == {"gadoxetic_fraction": 1.0, "hbp_acquired_fraction": 1.0}


def test_seed2_is_the_papers_design() -> None:
    seed2 = load_model_set("seed2", ROOT)
    assert seed2.cohort.cases == 320 and seed2.cohort.test_fraction == 0.3
    assert round(seed2.cohort.cases * seed2.cohort.test_fraction) == 96
    assert {(m.backbone, m.fusion) for m in seed2.models} == {
        (b, f) for b in ("resnet34", "resnet101", "efficientnetv2_tiny") for f in ("multichannel", "feature")}
    assert {m.phases for m in seed2.models} == {("ap", "pvp", "dp")}
    assert {m.fold for m in seed2.models} == {"all"}  # out-of-fold scores for choosing and stacking
    assert seed2.evaluation.radiomics_phases == ("ap", "pvp", "dp")
    assert {"rim_aphe_read", "capsule_read", "necrosis_read", "nonsmooth_margin_read"} <= set(seed2.evaluation.clinical)
    assert seed2.evaluation.fitted_models() == ("Radiomics", "Clinical", "Combined")


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (lambda s: s.pop("version"), r"missing key\(s\) \['version'\]"),
    (lambda s: s.update(version="1.0"), "version must be a positive integer"),
    (lambda s: s["models"][0].update(phases=["t2", "t1"]), "t1"),
    (lambda s: s["models"][0].update(backbone="resnet50"), "unknown backbone 'resnet50'"),
    (lambda s: s["models"][0].update(fusion="late"), "unknown fusion 'late'"),
    (lambda s: s["models"][0].update(epochs=3), r"unknown key\(s\) \['epochs'\]"),
    (lambda s: s["models"][0].update(overrides={"learning_rte": 0.1}), "not keys of configs/train_classifier.yaml"),
    (lambda s: s["models"][0].update(overrides={"phases": ["ap"]}), "set by the model entry"),
    (lambda s: s["models"][0].update(fold=7), "fold number from 0 to 4"),
    (lambda s: s["models"].append(dict(s["models"][0])), "more than once"),
    (lambda s: s["models"][0].update(name="Combined"), "other than Radiomics, Clinical and Combined"),
    (lambda s: s["cohort"].update(test_fraction=30), "strictly between 0 and 1"),
    (lambda s: s["cohort"]["generator"].update(protocol={"gadoxetic": 1.0}), "Unknown setting 'protocol.gadoxetic'"),
    (lambda s: s["evaluation"].update(radiomics_phases=["dwi"]), "dwi"),
    (lambda s: s["evaluation"]["comparisons"].append(["MC", "Combined"]), r"names \['Combined'\]"),
    (lambda s: s["evaluation"]["comparisons"].append(["MC"]), "pair of two different model names"),
])  # fmt: skip
def test_a_wrong_set_is_refused_with_one_sentence(change: Any, message: str) -> None:
    data = _seed("seed1")
    change(data)
    with pytest.raises(ConfigError, match=message) as caught:
        parse_model_set(data, "seed1.yaml", ROOT)
    text = str(caught.value)
    assert "seed1.yaml" in text and "\n" not in text


def test_an_unknown_set_name_lists_the_sets() -> None:
    with pytest.raises(ConfigError, match=r"no model set 'seed3'.*\['seed1', 'seed2'\]"):
        load_model_set("seed3", ROOT)


# -- the runner, commands stood in for -----------------------------------------------------------------------


def _fake_commands(runner: Any, monkeypatch: pytest.MonkeyPatch, calls: list[list[str]]) -> None:
    """Each command leaves what the real one would: a datalist, model weights, a report."""

    def fake_run(command: list[str], cwd: Path, check: bool) -> subprocess.CompletedProcess:
        calls.append(command)
        verb, out = command[3], Path(command[command.index("--out") + 1])
        if command[2] == "hccp53.evaluation.control":  # the permuted datalist, a file beside the cohort's
            out.write_text('{"labels_permuted": {}}')
            return subprocess.CompletedProcess(command, 0)
        out.mkdir(parents=True, exist_ok=True)
        if verb == "synth":
            (out / "datalist.json").write_text("{}")
        elif verb == "train":
            (out / "checksums.json").write_text(json.dumps({"p53_classifier.pt": f"{len(calls):064x}"}))  # new weights
            (out / "training_complete.json").write_text("{}")
            (out / "checkpoint_epoch=3.pt").write_bytes(b"x" * 1000)
        else:
            names = [m.split("=")[0] for m in command[command.index("--models") + 1:command.index("--cv")]]
            models = {n: {"auc": 0.6 + 0.01 * k} for k, n in enumerate(names)}
            p = {a: {b: (None if a == b else 0.04) for b in names} for a in names}
            (out / "metrics.json").write_text(json.dumps({
                "splits": {"training": {"cases": 200, "mutated": 100, "models": models},
                           "test": {"cases": 60, "mutated": 30, "models": models}},
                "delong": {"training": {"p": p}, "test": {"p": p}},
                "cross_validation_fitted_models": {"Combined": {"pooled_auc": 0.52}}}))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(runner.subprocess, "run", fake_run)


def test_the_plan_names_every_models_command(runner: Any, tmp_path: Path) -> None:
    steps = runner.plan(load_model_set("seed2", ROOT), tmp_path)
    assert [s.key for s in steps] == ["cohort", *(f"train {m.name}" for m in load_model_set("seed2", ROOT).models),
                                      "evaluate"]  # fmt: skip
    cohort = steps[0]
    assert cohort.command[3] == "synth" and cohort.command[cohort.command.index("--cases") + 1] == "320"
    assert yaml.safe_load(cohort.files[tmp_path / "synth.yaml"])["split"] == {"test_fraction": 0.3, "folds": 5}
    resnet = " ".join(steps[1].command)
    assert "--fold all --phases ap,pvp,dp --set backbone=resnet34 --set fusion=multichannel" in resnet
    evaluate = " ".join(steps[-1].command)
    assert "--radiomics-phases ap,pvp,dp" in evaluate and "rim_aphe_read" in evaluate and "--cv 5" in evaluate
    assert "--no-radiomics" in " ".join(runner.plan(load_model_set("seed1", ROOT), tmp_path)[-1].command)


def test_the_same_command_resumes_and_keeps_what_is_done(runner: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    seed1, calls = load_model_set("seed1", ROOT), []
    _fake_commands(runner, monkeypatch, calls)
    assert runner.run(seed1, tmp_path, runner.Scale(cases=12)) == 0
    assert [c[3] for c in calls] == ["synth", *["train"] * 6, "evaluate"]
    assert not list(tmp_path.rglob("checkpoint_epoch=*.pt"))  # finished models keep their weights only
    table = (tmp_path / "report" / "comparisons.csv").read_text().splitlines()
    assert table[0] == "split,model_a,model_b,auc_a,auc_b,p_delong,p_holm,note" and len(table) == 1 + 2 * 8
    assert (tmp_path / "report" / "model_set.yaml").read_text().startswith("# Model set `seed1`")
    assert "[8/8] evaluate: 6 network(s): done in" in capsys.readouterr().out

    calls.clear()  # a second run does nothing but the comparisons
    assert runner.run(seed1, tmp_path, runner.Scale(cases=12)) == 0
    assert calls == [] and "[2/8] train T2: t2, efficientnetv2_tiny, multichannel, validation fold 0: done before" \
        in capsys.readouterr().out  # fmt: skip

    # a model removed is trained again, and the report made again from the new weights
    for path in (tmp_path / "models" / "AP").iterdir():
        path.unlink()
    (tmp_path / "models" / "AP").rmdir()
    assert runner.run(seed1, tmp_path, runner.Scale(cases=12)) == 0
    assert [(c[3], c[c.index("--out") + 1]) for c in calls] == [
        ("train", str(tmp_path / "models" / "AP")), ("evaluate", str(tmp_path / "report"))]


def test_a_step_interrupted_resumes_with_the_same_command(runner: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    seed1, calls = load_model_set("seed1", ROOT), []
    _fake_commands(runner, monkeypatch, calls)
    fake = runner.subprocess.run

    def fail_on_mc(command: list[str], cwd: Path, check: bool) -> subprocess.CompletedProcess:
        fake(command, cwd, check)
        return subprocess.CompletedProcess(command, 1 if command[command.index("--out") + 1].endswith("/MC") else 0)

    monkeypatch.setattr(runner.subprocess, "run", fail_on_mc)
    assert runner.run(seed1, tmp_path) == 1
    state = json.loads((tmp_path / runner.STATE_FILE).read_text())
    assert state["steps"]["train MC"]["complete"] is False and state["steps"]["train PVP"]["complete"] is True
    monkeypatch.setattr(runner.subprocess, "run", fake)
    calls.clear()
    assert runner.run(seed1, tmp_path) == 0
    assert [Path(c[c.index("--out") + 1]).name for c in calls] == ["MC", "MC_HBP", "report"]
    out = capsys.readouterr().out  # the time of a resumed step is this run's only, and says so
    assert "multichannel, validation fold 0: done in 0.0 min after resuming (earlier runs" in out
    fresh = next(line for line in out.splitlines() if line.startswith("[7/8] train MC_HBP") and "done in" in line)
    assert "resuming" not in fresh


def test_a_changed_or_foreign_folder_is_refused(runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed1, calls = load_model_set("seed1", ROOT), []
    _fake_commands(runner, monkeypatch, calls)
    assert runner.run(seed1, tmp_path) == 0
    with pytest.raises(OutputError, match=r"made at scale full, not \{'epochs': 1\}; give another --out"):
        runner.run(seed1, tmp_path, runner.Scale(epochs=1))
    data = _seed("seed1")
    data["version"] += 1
    with pytest.raises(OutputError, match=r"made by version \d+ of model set 'seed1', not version \d+ .*another --out"):
        runner.run(parse_model_set(data, "seed1.yaml", ROOT), tmp_path)
    data = _seed("seed1")
    data["models"][1]["overrides"] = {"dropout": 0.5}
    changed = parse_model_set(data, "seed1.yaml", ROOT)
    with pytest.raises(OutputError, match=r"models/AP was made with other settings \(command changed since\)"):
        runner.run(changed, tmp_path)
    (tmp_path / "models" / "Other").mkdir()
    data = _seed("seed1")
    data["models"].append({"name": "Other", "phases": ["dp"]})
    with pytest.raises(OutputError, match="models/Other exists but this run did not make it"):
        runner.run(parse_model_set(data, "seed1.yaml", ROOT), tmp_path)


def test_the_shuffled_label_control_trains_and_evaluates_on_the_permuted_datalist(
        runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    seed1, calls = load_model_set("seed1", ROOT), []
    _fake_commands(runner, monkeypatch, calls)
    assert runner.run(seed1, tmp_path, permute=3) == 0
    permuted = str(tmp_path / "cohort" / "datalist_permuted.json")
    assert calls[1][2:] == ["hccp53.evaluation.control", "--datalist", str(tmp_path / "cohort" / "datalist.json"),
                            "--seed", "3", "--out", permuted]  # fmt: skip
    for command in calls[2:]:  # every training and the evaluation read the permuted labels
        assert command[command.index("--datalist") + 1] == permuted
    # the fake AUCs: 0.60 ... 0.65 on 30 + 30 test cases (2 SE = 0.149) and a pooled 0.52 on 100 + 100
    table = (tmp_path / "report" / "leak_check.csv").read_text().splitlines()
    assert table[0] == "model,figure,auc,se,within" and len(table) == 1 + 6 + 1
    assert table[1].startswith("T2,test AUC,0.6,0.0752,True") and table[-1].startswith("Combined,cross-validated")
    assert "no model predicts the permuted labels" in capsys.readouterr().out
    with pytest.raises(OutputError, match="made with labels permuted with seed 3, not the true labels"):
        runner.run(seed1, tmp_path)


def test_some_of_the_models_alone_report_apart(runner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    seed1, calls = load_model_set("seed1", ROOT), []
    _fake_commands(runner, monkeypatch, calls)
    assert runner.run(seed1, tmp_path, only=["MC", "HBP"]) == 0
    trained = [c[c.index("--out") + 1] for c in calls if c[3] == "train"]
    assert trained == [str(tmp_path / "models" / name) for name in ("HBP", "MC")]  # the set's order
    evaluate = calls[-1]
    assert evaluate[evaluate.index("--out") + 1] == str(tmp_path / "report_HBP+MC")
    assert not (tmp_path / "report").exists()
    table = (tmp_path / "report_HBP+MC" / "comparisons.csv").read_text().splitlines()
    assert [tuple(row.split(",")[:3]) for row in table[1:]] == [("training", "MC", "HBP"), ("test", "MC", "HBP")]
    capsys.readouterr()
    assert runner.main(["seed1", "--models", "MC,XX", "--dry-run"]) == 1
    assert "--models names ['XX'], which model set seed1 does not have" in capsys.readouterr().err


def test_the_script_has_help_and_a_dry_run() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_set.py"), "--help"], capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert "The same command resumes" in result.stdout and "--cases" in result.stdout
    assert "--permute-labels SEED" in result.stdout
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_set.py"), "seed9"], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 1 and result.stderr.startswith("model_set: There is no model set 'seed9'")


# -- the whole pipeline, tiny ----------------------------------------------------------------------------


@pytest.mark.slow
def test_seed1_runs_end_to_end_on_a_tiny_scale(tmp_path: Path) -> None:
    """The real commands: 24 cases, 1 epoch, 16³ crops, 2 folds (about 20 minutes on 2 busy cores)."""
    argv = [sys.executable, str(ROOT / "scripts" / "model_set.py"), "seed1", "--out", str(tmp_path / "run"),
            "--cases", "24", "--epochs", "1", "--crop", "16", "--batch-size", "4", "--folds", "2",
            "--resamples", "200", "--workers", "0"]  # fmt: skip
    first = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "report" / "metrics.json").read_text())
    assert set(metrics["splits"]["test"]["models"]) == {"T2", "AP", "PVP", "HBP", "MC", "MC_HBP"}
    assert (tmp_path / "run" / "report" / "comparisons.csv").is_file()
    again = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and again.stdout.count("done before, kept") == 8
