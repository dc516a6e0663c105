"""Soak (issue: reliability harness): many studies back to back through one process leave its peak memory flat
within 10%, and leave no file descriptor or file behind. The measurement is bench/soak.py's, shared with
``bench/bench_soak.py`` (which runs 50 studies, and the same through ``hccp53 serve``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from soak import Sample, count_files, open_fds, soak_run_study, summarize, verdict  # noqa: E402

STUDIES = 25  # 5 warm-up, then two windows of 10; 12 min measured on 2 cores at a load average of 6
DISTINCT = 5  # cohort cases used in turn: each window holds every case twice
WARMUP, WINDOW = 5, 10


def _samples(peaks: list[float], fds: list[int] | None = None, temp: list[int] | None = None) -> list[Sample]:
    fds = fds or [12] * len(peaks)
    temp = temp or [0] * len(peaks)
    return [Sample(i, 1.0, p - 100, p, f, t, 0) for i, (p, f, t) in enumerate(zip(peaks, fds, temp, strict=True))]


def test_the_verdict_finds_memory_growth_and_leaks() -> None:
    flat = _samples([1000.0] * 25)
    assert verdict(summarize(flat, WARMUP, WINDOW)) == []
    growing = _samples([1000.0 + 20 * i for i in range(25)])  # +2% a study
    summary = summarize(growing, WARMUP, WINDOW)
    assert summary["peak_rss_ratio_late_over_early"] == pytest.approx(1480 / 1280)
    assert any("peak RSS grew" in problem for problem in verdict(summary))
    leaking = _samples([1000.0] * 25, fds=[12 + i for i in range(25)], temp=[i // 5 for i in range(25)])
    problems = verdict(summarize(leaking, WARMUP, WINDOW))
    assert any("descriptors grew by 19" in p for p in problems) and any("temporary folder" in p for p in problems)


def test_windows_must_not_overlap() -> None:
    with pytest.raises(ValueError, match="too few for a warm-up of 5 and two windows of 10"):
        summarize(_samples([1000.0] * 24), WARMUP, WINDOW)


PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from soak import memory_mib, reset_peak
rss, peak = memory_mib()
block = b"\\x01" * (200 * 2**20)  # 200 MiB, every page written
grown = memory_mib()[1]
del block
reset = reset_peak()
print(peak, grown, reset, memory_mib()[1])
"""


def test_the_probes_see_memory_and_descriptors(tmp_path: Path) -> None:
    before = open_fds()
    with open(tmp_path / "f", "w"):
        assert open_fds() == before + 1
    assert count_files(tmp_path) == 1 and count_files(tmp_path / "absent") == 0
    # a fresh process, whose peak is its own: this one's depends on the tests that ran before it
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "bench")], capture_output=True, text=True, check=True)
    peak, grown, reset, after = out.stdout.split()
    assert float(grown) > float(peak) + 150
    # reset_peak says whether the kernel really reset the peak (a sandboxed one may accept the write and ignore it)
    assert (float(after) < float(grown) - 150) == (reset == "True"), out.stdout


@pytest.mark.slow
def test_many_studies_through_one_predictor(cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hccp53.predictor import Predictor
    from hccp53.settings import read_settings

    private = tmp_path / "tmp"  # a temporary folder of our own: other users of /tmp do not count
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("TMPDIR", str(private))
    studies = sorted((cohort / "cases").glob("*/dicom"))[:DISTINCT]
    predictor = Predictor(ROOT / "models", read_settings(), device="cpu")
    samples, per_study = soak_run_study(studies, STUDIES, tmp_path / "work", predictor)
    summary = summarize(samples, WARMUP, WINDOW)
    assert per_study, "could not reset VmHWM through /proc/self/clear_refs: the peaks are not per study"
    assert verdict(summary) == [], summary["samples"]
    assert summary["leftover_files_max"] == 0 and os.listdir(private) == []
