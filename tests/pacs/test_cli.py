"""``hccp53 serve`` / ``pull`` / ``push`` on the command line: help, and one sentence for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccp53.cli import main as cli
from hccp53.pacs.spool import Spool


def test_serve_needs_a_destination(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["serve", "--spool", str(tmp_path / "s"), "--port", "11199"]) == 1
    err = capsys.readouterr().err
    assert "needs somewhere to send results" in err and "Traceback" not in err


def test_serve_refuses_a_bad_destination(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["serve", "--spool", str(tmp_path), "--destination", "ORTHANC:4242"]) == 1
    assert "is not AET@host:port" in capsys.readouterr().err


def test_status_of_a_spool_without_a_server(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["serve", "--status", "--spool", str(tmp_path / "nothing")]) == 1
    assert "is not a hccp53 serve spool" in capsys.readouterr().err
    spool = Spool(tmp_path / "spool")
    spool.store("1.2.3", "1.2.3.4", b"x")
    assert cli(["serve", "--status", "--spool", str(spool.root)]) == 1
    out = capsys.readouterr().out
    assert "hccp53 serve: not running" in out and "incoming 1" in out


@pytest.mark.parametrize("verb", ["serve", "pull", "push"])
def test_help_explains(verb: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli([verb, "--help"])
    assert exit_.value.code == 0
    assert "DICOM" in capsys.readouterr().out


def test_pull_refuses_what_is_not_a_uid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["pull", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--study", "PAT^NAME",
                "--out", str(tmp_path / "x")]) == 1  # fmt: skip
    assert "is not a Study Instance UID" in capsys.readouterr().err
