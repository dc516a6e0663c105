"""`hccp53 train`: mistakes end with one sentence and exit status 1, before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccp53.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().err.strip()


def test_missing_datalist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "classifier", "--datalist", str(tmp_path / "none.json"), "--out", str(tmp_path / "o"))
    assert code == 1
    last = err.splitlines()[-1]
    assert last.startswith("hccp53 train: error: Datalist") and "does not exist" in last
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "batch_size"], "--set expects key=value"),
        (["--set", "phases=[t2,"], "is not valid YAML"),
        (["--fold", "two"], "--fold must be a fold number or 'all'"),
        (["--phases", "t2,xyz"], "Unknown phase"),
    ],
)
def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    code, err = _run(capsys, "segmentation", "--datalist", str(tmp_path / "d.json"), "--out", str(tmp_path), *extra)
    assert code == 1 and message in err.splitlines()[-1] and "Traceback" not in err


def test_one_class_only_is_refused_before_training(cohort: Path, tmp_path: Path, capsys) -> None:
    import json

    datalist = json.loads((cohort / "datalist.json").read_text())
    for case in datalist["training"]:
        case["label"] = 1
        for key in ("t2", "pre", "ap", "pvp", "dp", "hbp", "mask", "liver_mask"):
            if key in case:
                case[key] = str(cohort / case[key])
    path = tmp_path / "one_class.json"
    path.write_text(json.dumps(datalist))
    code, err = _run(capsys, "classifier", "--datalist", str(path), "--out", str(tmp_path / "o"), "--workers", "0")
    assert code == 1 and "a classifier needs both classes" in err
    assert not (tmp_path / "o" / "p53_classifier.pt").exists()


def test_help_explains_the_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "split.json" in out and "--fold all" in out and "--restart" in out and "resumes" in out


def _three_fold_datalist(cohort: Path, tmp_path: Path) -> Path:
    """The c8 cohort's training cases over three folds, both classes in each, with absolute image paths."""
    import json

    datalist = json.loads((cohort / "datalist.json").read_text())
    for index, case in enumerate(datalist["training"]):
        case["fold"], case["label"] = index % 3, index % 2
        for key in ("t2", "pre", "ap", "pvp", "dp", "hbp", "mask", "liver_mask"):
            if key in case:
                case[key] = str(cohort / case[key])
    datalist["test"] = []
    path = tmp_path / "three_folds.json"
    path.write_text(json.dumps(datalist))
    return path


def test_fold_all_needs_three_folds(cohort: Path, tmp_path: Path, capsys) -> None:
    code, err = _run(capsys, "classifier", "--datalist", str(cohort / "datalist.json"), "--out", str(tmp_path / "o"),
                     "--fold", "all", "--workers", "0")  # fmt: skip
    assert code == 1 and "--fold all needs at least 3 folds" in err.splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_fold_all_holds_each_fold_out_and_summarises(cohort: Path, tmp_path: Path, capsys) -> None:
    import csv
    import json

    datalist = _three_fold_datalist(cohort, tmp_path)
    cases = json.loads(datalist.read_text())["training"]
    out = tmp_path / "cv"
    args = ["train", "classifier", "--datalist", str(datalist), "--out", str(out), "--fold", "all", "--epochs", "1",
            "--workers", "0", "--no-progress", "--set", "batch_size=2", "--set", "crop_size=[16, 16, 16]",
            "--set", "crop_spacing_mm=[4.0, 4.0, 4.0]", "--set", "min_logit_sd=0"]  # fmt: skip
    code = main(args)
    assert code == 0, capsys.readouterr().err[-2000:]
    assert "held-out fold 0: AUC" in capsys.readouterr().out
    folds = [0, 1, 2]
    summary = json.loads((out / "cross_validation.json").read_text())
    assert [(r["held_out_fold"], r["fold"]) for r in summary] == [(0, 1), (1, 2), (2, 0)]
    for fold in folds:
        folder = out / f"fold_{fold}"
        assert (folder / "p53_classifier.pt").is_file()
        split = json.loads((folder / "split.json").read_text())
        # fold k is neither trained nor validated on: the next fold validates, the third trains
        assert split["held_out_fold"] == fold and split["fold"] == (fold + 1) % 3
        held_out = {c["case_id"] for c in cases if c["fold"] == fold}
        with (folder / "held_out_predictions.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert {row["case_id"] for row in rows} == held_out
        assert json.loads((folder / "network.json").read_text())["held_out"]["cases"] == len(held_out)
    assert json.loads((out / "network.json").read_text())["validation"]["pooled"] == "held-out folds"
    # the same command keeps the finished folds; a fold folder trained the old way (validated on its own
    # fold) is refused rather than silently mixed in
    assert main(args) == 0 and "already trained" in capsys.readouterr().out
    split_file = out / "fold_1" / "split.json"
    split = json.loads(split_file.read_text())
    split_file.write_text(json.dumps({**split, "fold": 1, "held_out_fold": None}))
    code, err = _run(capsys, *args[1:])
    assert code == 1 and "pass --restart" in err.splitlines()[-1] and "Traceback" not in err
    split_file.write_text(json.dumps(split))
    # the folds published as one network: its log-odds are the mean of the folds' published log-odds,
    # calibrated once more on their pooled out-of-fold predictions and clamped to that fit's range
    import torch

    from hccp53.model.load import load_classifier_network

    network = json.loads((out / "network.json").read_text())
    assert network["ensemble"] == len(folds) and len(network["members"]) == len(folds)
    assert network["validation"]["cases"] == len(cases)
    ensemble = load_classifier_network(out, "cpu")
    members = [load_classifier_network(out / f"fold_{k}", "cpu") for k in folds]
    x = torch.randn(2, 4, 16, 16, 16)  # t2, ap, pvp and the tumor mask (the config's default mask_channel)

    def log_odds(net: torch.nn.Module) -> torch.Tensor:
        z = net(x)
        return z[:, 1] - z[:, 0]

    calibration = network["calibration"]
    with torch.no_grad():
        mean = torch.stack([log_odds(m) for m in members]).mean(0)
        expected = mean
        if calibration["method"] == "platt":
            expected = (calibration["slope"] * mean + calibration["intercept"]).clamp(*calibration["log_odds_range"])
        torch.testing.assert_close(log_odds(ensemble), expected, rtol=1e-5, atol=1e-5)


def test_the_same_command_resumes_an_interrupted_run_and_keeps_a_finished_one(cohort: Path, tmp_path: Path,
                                                                                capsys) -> None:
    import json

    out = tmp_path / "cls"
    args = ["train", "classifier", "--datalist", str(cohort / "datalist.json"), "--out", str(out), "--workers", "0",
            "--no-progress", "--set", "batch_size=2", "--set", "crop_size=[16, 16, 16]",
            "--set", "crop_spacing_mm=[4.0, 4.0, 4.0]", "--set", "min_logit_sd=0"]  # fmt: skip
    assert main([*args, "--epochs", "1"]) == 0
    (out / "training_complete.json").unlink()  # as if the run had been stopped after its first epoch
    capsys.readouterr()
    assert main([*args, "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert "Resuming the interrupted run" in err and "checkpoint_epoch=1.pt" in err
    assert [row["epoch"] for row in json.loads((out / "validation_history.json").read_text())] == [1, 2]
    assert json.loads((out / "training_complete.json").read_text())["epochs_run"] == 2
    before = (out / "p53_classifier.pt").stat().st_mtime_ns
    assert main([*args, "--epochs", "2"]) == 0
    assert "already trained" in capsys.readouterr().out
    assert (out / "p53_classifier.pt").stat().st_mtime_ns == before
    # a stop while epoch 3's checkpoint was being written (before checkpoints were written whole) left it truncated
    (out / "training_complete.json").unlink()
    (out / "checkpoint_epoch=3.pt").write_bytes((out / "checkpoint_epoch=2.pt").read_bytes()[:300])
    capsys.readouterr()
    assert main([*args, "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "checkpoint_epoch=3.pt is truncated" in err and "from checkpoint_epoch=2.pt" in err
    assert json.loads((out / "training_complete.json").read_text())["epochs_run"] == 3
    # --restart forgets the earlier run: its checkpoints, history and completion record
    assert main([*args, "--epochs", "1", "--restart"]) == 0
    assert sorted(p.name for p in out.glob("checkpoint_epoch=*.pt")) == ["checkpoint_epoch=1.pt"]
    assert [row["epoch"] for row in json.loads((out / "validation_history.json").read_text())] == [1]
    assert json.loads((out / "training_complete.json").read_text())["epochs_run"] == 1
