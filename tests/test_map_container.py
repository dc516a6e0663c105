"""The MAP for real (issue: the MAP built and run with podman): built from a clean clone of the committed
tree with `scripts/map_build.py`, run on a synthetic study of one vendor style as a MAP runner runs it (no
network, input read-only), and compared with `python app.py` on the host: the same probability (1e-5), the same
SEG, the same result keys; bad input gives the one sentence and no output inside the container too.

Slow (the first build takes about 5 minutes, a cached one seconds) and needs podman, root and debootstrap
(`scripts/setup_containers.sh`): `make map-test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from hccp53.synth.cohort import generate_cohort
from hccp53.synth.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("podman") is None or shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip("the MAP build needs podman, debootstrap and root: run scripts/setup_containers.sh as root")
    target = tmp_path_factory.mktemp("map") / "hccp53"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    for step in ("base", "package"):
        done = subprocess.run([sys.executable, str(target / "scripts" / "map_build.py"), step],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, f"map_build {step}: {(done.stdout + done.stderr)[-2000:]}"
    return target


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("philips") / "cohort"
    generate_cohort(out, 1, seed=7, profile="small", config=load_config(protocol__vendors={"philips": 1.0}),
                    progress=False, preview=False)  # fmt: skip
    return next((out / "cases").iterdir()) / "dicom"


def _run_map(clone: Path, study: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(clone / "scripts" / "map_build.py"), "run", str(study), str(out)],
                          capture_output=True, text=True)  # fmt: skip


def _seg_pixels(path: Path) -> tuple:
    seg = pydicom.dcmread(path)
    return seg.pixel_array.tobytes(), [s.SegmentLabel for s in seg.SegmentSequence], seg.NumberOfFrames


def test_the_map_gives_the_host_apps_result(clone: Path, study: Path, tmp_path: Path) -> None:
    host = tmp_path / "host"
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "-i", str(study), "-o", str(host), "-m",
                           str(ROOT / "models")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "map"
    ran = _run_map(clone, study, out)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in host.iterdir())
    ours, theirs = (json.loads((folder / "result.json").read_text()) for folder in (out, host))
    assert sorted(ours) == sorted(theirs)
    assert ours["p53_probability"] == pytest.approx(theirs["p53_probability"], abs=1e-5)
    assert ours["model"]["uid"] == theirs["model"]["uid"] and ours["p53_status"] == theirs["p53_status"]
    assert _seg_pixels(out / "tumor_seg.dcm") == _seg_pixels(host / "tumor_seg.dcm")


@pytest.mark.parametrize("bad", ["empty", "not_dicom"])
def test_bad_input_gives_one_sentence_and_no_output_in_the_container(clone: Path, tmp_path: Path, bad: str) -> None:
    folder = tmp_path / bad
    folder.mkdir()
    if bad == "not_dicom":
        (folder / "notes.txt").write_text("not a DICOM file")
    out = tmp_path / "out"
    ran = _run_map(clone, folder, out)
    assert ran.returncode == 1
    assert "hccp53 app: error: " in ran.stdout + ran.stderr and "Traceback" not in ran.stdout + ran.stderr
    assert "map_build: the app failed in the container: " in ran.stderr
    assert list(out.iterdir()) == []
