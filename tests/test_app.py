"""The MONAI Deploy app as a hospital runs it: `python app.py -i -o -m`, `python <app folder>` with the
HOLOSCAN_* variables, and bad input ending with one sentence, a non-zero exit and no output files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from hccp53.dicomio.sr import read_result

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def study(vendor_cohorts: dict[str, Path]) -> Path:
    return sorted((vendor_cohorts["ge_single"] / "cases").iterdir())[0]


def test_app_py_writes_sr_seg_and_result(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run([str(ROOT / "app.py"), "-i", str(study / "dicom"), "-o", str(out), "-m", str(ROOT / "models")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["p53_key_slice_sr.dcm", "p53_report.dcm", "p53_sr.dcm",
                                                     "result.json", "tumor_seg.dcm"]
    report = pydicom.dcmread(out / "p53_report.dcm")
    assert report.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert report.EncapsulatedDocument.startswith(b"%PDF") and "research use" in report.SeriesDescription
    check = subprocess.run(["dciodvfy", str(out / "p53_report.dcm")], capture_output=True, text=True, check=False)
    assert not [line for line in check.stderr.splitlines() if line.startswith("Error")], check.stderr
    document = json.loads((out / "result.json").read_text())
    truth = json.loads((study / "truth.json").read_text())["phases"]
    assert {p: (c["series_instance_uid"], c["temporal_position"]) for p, c in document["phases"].items()} == {
        p: (truth[p]["series_instance_uid"], truth[p].get("temporal_position")) for p in ("t2", "ap", "pvp")}
    assert 0.0 <= document["p53_probability"] <= 1.0 and document["p53_status"] in ("mutated", "wild-type")
    assert document["model"]["version"] and document["device"] == "cpu"
    stages = {"study_loader_s", "phase_selector_s", "multiphase_volumes_s", "tumor_segmentation_s",
              "p53_classifier_s", "dicom_seg_s", "dicom_sr_s"}  # fmt: skip
    assert stages <= set(document["timings_s"]) and all(v >= 0 for v in document["timings_s"].values())
    back = read_result(pydicom.dcmread(out / "p53_sr.dcm"))
    assert back["p53_probability"] == pytest.approx(document["p53_probability"], abs=1e-6)
    assert f"P53: {document['p53_status']}" in result.stdout


def test_the_app_folder_runs_with_the_holoscan_variables(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"HOLOSCAN_INPUT_PATH": str(study / "dicom"), "HOLOSCAN_OUTPUT_PATH": str(out),
           "HOLOSCAN_MODEL_PATH": str(ROOT / "models")}  # fmt: skip
    result = run([str(ROOT)], env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "result.json").is_file() and (out / "p53_sr.dcm").is_file()


@pytest.mark.parametrize("case", ["empty", "not_dicom"])
def test_bad_input_is_one_sentence_and_no_output(tmp_path: Path, case: str) -> None:
    folder = tmp_path / case
    folder.mkdir()
    if case == "not_dicom":
        (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = run([str(ROOT / "app.py"), "-i", str(folder), "-o", str(out), "-m", str(ROOT / "models")])
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("hccp53 app: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_a_models_folder_without_weights_is_one_sentence(study: Path, tmp_path: Path) -> None:
    result = run([str(ROOT / "app.py"), "-i", str(study / "dicom"), "-o", str(tmp_path / "out"), "-m",
                  str(tmp_path)])  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has no p53_classifier.pt" in result.stderr
