"""No patient identifier in any log line or in result.json (issue 9; STYLE.md: never log patient identifiers).

A synthetic study is given a distinctive PatientName, PatientID and PatientBirthDate; the app and the CLI
commands that read DICOM run on it with their most verbose logging, and none of the values (nor their
parts) may appear in what they print or in result.json. The DICOM SR, SEG and PDF objects carry them on
purpose: they go back into the patient's study (checked in tests/dicomio/test_sr.py). `hccp53 serve` is
checked the same way in tests/pacs/test_orthanc.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[2]
FAMILY, GIVEN, PATIENT_ID, BIRTH_DATE = "Zyxwvutsky", "Quentinella", "PID-7319-QX", "19470713"
#: Every form in which the identifiers could leak: whole, in parts, a date re-formatted.
IDENTIFIERS = (f"{FAMILY}^{GIVEN}", FAMILY, GIVEN, PATIENT_ID, "7319", BIRTH_DATE, "1947-07-13")


def leaked(text: str) -> list[str]:
    """The identifiers found in ``text`` (case-insensitive)."""
    lowered = text.lower()
    return [value for value in IDENTIFIERS if value.lower() in lowered]


@pytest.fixture(scope="module")
def named_study(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of one synthetic study whose every file names the known patient."""
    study = tmp_path_factory.mktemp("named") / "dicom"
    shutil.copytree(cohort / "cases" / "SYN0001" / "dicom", study)
    for path in sorted(study.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = f"{FAMILY}^{GIVEN}", PATIENT_ID, BIRTH_DATE
        ds.save_as(path)
    return study


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False, cwd=ROOT,
                          stdin=subprocess.DEVNULL, env={**os.environ, **env}, timeout=600)  # fmt: skip


def test_the_leak_check_finds_each_identifier() -> None:
    assert leaked(f"series 3 of zyxwvutsky^quentinella, id {PATIENT_ID}, born 1947-07-13") == [
        f"{FAMILY}^{GIVEN}", FAMILY, GIVEN, PATIENT_ID, "7319", "1947-07-13"]  # fmt: skip
    assert leaked("series 3 (`t1_vibe_fs_tra_p2_320_bh_ART`)") == []


def test_the_app_logs_no_patient_identifier(named_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run([str(ROOT / "app.py"), "-i", str(named_study), "-o", str(out), "-m", str(ROOT / "models")],
                  HOLOSCAN_LOG_LEVEL="TRACE")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "hccp53.dicomio.loader" in result.stderr  # the library's log is in what was scanned
    assert leaked(result.stdout + result.stderr) == []
    assert leaked((out / "result.json").read_text(encoding="utf-8")) == []
    sr = pydicom.dcmread(out / "p53_sr.dcm")
    assert str(sr.PatientID) == PATIENT_ID  # ...while the SR carries the patient into the same study


@pytest.mark.parametrize("command", [["phases"], ["phases", "--json"], ["describe"], ["describe", "--json"],
                                     ["phases", "--require", "t2,ap,pvp,hbp,dp,pre"]])  # fmt: skip
def test_the_cli_logs_no_patient_identifier(named_study: Path, command: list[str]) -> None:
    result = _run(["-m", "hccp53", "-vv", command[0], str(named_study), *command[1:]])
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr[-2000:]
    if command[0] == "phases":
        assert "hccp53.phases.identify" in result.stderr  # the log is in what was scanned (describe logs nothing)
    assert result.stdout.strip() if result.returncode == 0 else "error:" in result.stderr
    assert leaked(result.stdout + result.stderr) == []
