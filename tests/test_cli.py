"""The `hccp53` command: help for every verb, one-sentence errors, non-zero exits, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
import yaml

COMMAND = [sys.executable, "-m", "hccp53"]


def run(*args: str, check_exit: int | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=300, check=False)
    if check_exit is not None:
        assert result.returncode == check_exit, result.stderr
    return result


def test_help_lists_every_verb() -> None:
    result = run("--help", check_exit=0)
    assert "synth" in result.stdout and "describe" in result.stdout


@pytest.mark.parametrize("verb", ["synth", "describe"])
def test_each_verb_has_help(verb: str) -> None:
    result = run(verb, "--help", check_exit=0)
    assert "usage: hccp53" in result.stdout and len(result.stdout.splitlines()) > 5


def test_version() -> None:
    assert run("--version", check_exit=0).stdout.startswith("hccp53 ")


@pytest.mark.parametrize(("args", "message"), [
    (["synth", "--cases", "-3"], "must be at least 1, got -3"),
    (["synth", "--cases", "zero"], "expected a whole number"),
    (["synth", "--profile", "huge"], "invalid choice: 'huge'"),
    (["synth", "--seed", "-1"], "must be 0 or more"),
    (["synth", "--cases", "1"], "No output folder given; pass --out FOLDER."),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_give_one_sentence_and_non_zero_exit(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_or_busy_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("synth", "--cases", "1", "--out", str(blocker / "c"))
    assert result.returncode == 1 and "Cannot write the output folder" in result.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    result = run("synth", "--cases", "1", "--out", str(busy))
    assert result.returncode == 1 and "is not empty" in result.stderr and "Traceback" not in result.stderr


def test_config_with_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("mechanism:\n  prevalance: 0.5\n")
    result = run("synth", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "Unknown setting 'mechanism.prevalance'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_print_config_round_trips_through_config(tmp_path: Path) -> None:
    text = run("synth", "--print-config", "--target-auc", "0.81", check_exit=0).stdout
    settings = yaml.safe_load(text)
    assert settings["mechanism"]["target_bayes_auc"] == 0.81
    (tmp_path / "mine.yaml").write_text(text)
    again = yaml.safe_load(run("synth", "--print-config", "--config", str(tmp_path / "mine.yaml"),
                               check_exit=0).stdout)
    assert again == settings


def test_synth_then_describe(tmp_path: Path) -> None:
    run("synth", "--cases", "1", "--seed", "4", "--out", str(tmp_path / "c"), "--no-preview", check_exit=0)
    case = tmp_path / "c" / "cases" / "SYN0001"
    truth = json.loads((case / "truth.json").read_text())
    result = run("describe", str(case / "dicom"), check_exit=0)
    assert len(result.stdout.splitlines()) == 2 + len(truth["series"])  # header, rule, one line per series
    for phase in truth["phases"].values():
        assert phase["series_description"][:38] in result.stdout
    first = next((case / "dicom").rglob("*.dcm"))
    family_name = str(pydicom.dcmread(first).PatientName).split("^")[0]
    assert family_name not in result.stdout  # no patient identifiers printed
    rows = json.loads(run("describe", "--json", str(case / "dicom"), check_exit=0).stdout)
    assert sum(r["instances"] for r in rows) == len(list(case.rglob("IM*.dcm")))


def test_describe_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not dicom")
    result = run("describe", str(tmp_path))
    assert result.returncode == 1 and "No DICOM image found" in result.stderr and "Traceback" not in result.stderr
    result = run("describe", str(tmp_path / "absent"))
    assert result.returncode == 1 and "does not exist" in result.stderr


@pytest.fixture(scope="module")
def one_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli_study") / "c"
    run("synth", "--cases", "1", "--seed", "4", "--out", str(out), "--no-preview", check_exit=0)
    return out / "cases" / "SYN0001"


def test_phases_prints_every_phase_and_json_follows_the_contract(one_study: Path) -> None:
    truth = json.loads((one_study / "truth.json").read_text())
    table = run("phases", str(one_study / "dicom"), check_exit=0).stdout
    for phase in truth["phases"].values():
        assert phase["series_description"][:36] in table
    result = json.loads(run("phases", str(one_study / "dicom"), "--json", check_exit=0).stdout)
    for phase, expected in truth["phases"].items():
        chosen = result["phases"][phase]
        assert chosen["series_instance_uid"] == expected["series_instance_uid"]
        assert chosen["series_description"] == expected["series_description"]
        assert chosen["reason"] and 0 < chosen["confidence"] <= 1
    assert result["considered"]


@pytest.mark.parametrize("damage", ["empty", "not_dicom", "missing_t2", "ct"])
def test_phases_bad_input_gives_one_sentence(one_study: Path, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "study"
    if damage == "empty":
        folder.mkdir()
        expected = "No DICOM image found"
    elif damage == "not_dicom":
        folder.mkdir()
        (folder / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"0" * 100)
        expected = "No DICOM image found"
    else:
        shutil.copytree(one_study / "dicom", folder)
        truth = json.loads((one_study / "truth.json").read_text())
        if damage == "missing_t2":  # every T2 candidate: without an axial T2 the coronal one would be used
            numbers = {s["series_number"] for s in truth["series"] if s["kind"] in ("t2", "t2_coronal")}
            removed = [p for p in folder.rglob("*.dcm")
                       if int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber) in numbers]
            assert removed
            for path in removed:
                path.unlink()
            expected = "No T2"
        else:
            for path in folder.rglob("*.dcm"):
                ds = pydicom.dcmread(path)
                ds.Modality = "CT"
                ds.save_as(path)
            expected = "not MR"
    result = run("phases", str(folder))
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1


def test_phases_json_still_shows_what_was_considered_on_failure(one_study: Path) -> None:
    result = run("phases", str(one_study / "dicom"), "--json", "--require", "t2,ap,pvp,hbp,dp,pre")
    truth = json.loads((one_study / "truth.json").read_text())
    if "hbp" in truth["phases"]:
        assert result.returncode == 0
        return
    assert result.returncode == 1 and "hepatobiliary" in result.stderr.lower()
    partial = json.loads(result.stdout)
    assert partial["error"] and partial["considered"]


def test_prepare_cli_bad_arguments(tmp_path: Path) -> None:
    result = run("prepare", "--dicom", str(tmp_path / "absent"), "--labels", str(tmp_path / "l.csv"),
                 "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    result = run("prepare", "--dicom", str(tmp_path), "--labels", str(tmp_path / "l.csv"), "--out",
                 str(tmp_path / "o"), "--require", "t2,xyz")
    assert result.returncode == 1 and "Unknown phase(s) xyz in --require; use some of t2, pre" in result.stderr
    result = run("prepare", "--dicom", str(tmp_path))
    assert result.returncode == 2 and "required" in result.stderr


def test_train_segmentation_learns_the_tumor_alone_when_the_datalist_has_no_liver_masks(tmp_path: Path, cohort: Path
                                                                                       ) -> None:  # fmt: skip
    """A user's datalist (`hccp53 prepare`) has tumor masks only: `hccp53 train` then trains without a liver
    output and says so, instead of failing on the config's default `liver: true`."""
    from hccp53.data.datalist import has_liver_masks, segmentation_cases
    from hccp53.errors import InputError

    content = json.loads((cohort / "datalist.json").read_text())
    assert has_liver_masks(cohort / "datalist.json")
    for part in ("training", "test"):
        for case in content[part]:
            case.pop("liver_mask", None)
            for key, value in list(case.items()):
                if isinstance(value, str) and value.endswith(".nii.gz"):
                    case[key] = str(cohort / value)
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps(content))
    assert not has_liver_masks(datalist)
    with pytest.raises(InputError, match="liver_mask"):
        segmentation_cases(datalist, ("t2", "ap", "pvp"), "train", 0, liver=True)
    result = run("train", "segmentation", "--datalist", str(datalist), "--out", str(tmp_path / "seg"), "--epochs", "1",
                 "--workers", "0", "--no-progress", "--set", "val_interval=1")
    assert result.returncode == 0, result.stderr
    assert "learns the tumor alone" in result.stdout
    record = json.loads((tmp_path / "seg" / "segmentation.json").read_text())
    assert record["output_classes"] == ["background", "tumor"] and record["network_args"]["out_channels"] == 2
