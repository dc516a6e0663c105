"""The soak measurement shared by ``bench/bench_soak.py`` and ``tests/reliability/test_soak.py``.

One process handles many studies back to back; after each study we sample that process from ``/proc``:
its resident set (VmRSS), its peak resident set during the study (VmHWM, reset before the study through
``/proc/PID/clear_refs``), its open file descriptors and the files left in its temporary folder and in
the folders it writes into. :func:`summarize` compares the last ``window`` studies with the first
``window`` after ``warmup``: peak RSS ratio (goal <= 1.10), descriptor growth and file growth (goal: none).

Linux only (``/proc``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RSS_GOAL = 1.10


@dataclass(frozen=True)
class Sample:
    """The state of the soaked process right after one study."""

    study: int
    wall_s: float
    rss_mib: float
    peak_rss_mib: float
    fds: int
    temp_files: int
    leftover_files: int


def memory_mib(pid: int | str = "self") -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from ``/proc/PID/status``."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values["VmRSS"], values["VmHWM"]


def reset_peak(pid: int | str = "self", slack_mib: float = 16.0) -> bool:
    """Reset the process's VmHWM to its current RSS (``echo 5 > /proc/PID/clear_refs``). False when the kernel
    refuses the write or accepts it without resetting the peak (some sandboxed kernels do): afterwards VmHWM must be
    within ``slack_mib`` of VmRSS."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    rss, peak = memory_mib(pid)
    return peak <= rss + slack_mib


def open_fds(pid: int | str = "self") -> int:
    """Number of open file descriptors of a process (entries of ``/proc/PID/fd``)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def count_files(folder: Path, ignore: Sequence[str] = ()) -> int:
    """Files and folders below ``folder`` (0 when it does not exist), leaving out the names in ``ignore``."""
    if not folder.exists():
        return 0
    return sum(1 for path in folder.rglob("*") if path.name not in ignore)


def sample(study: int, wall_s: float, pid: int | str, temp: Path, written: Path,
           ignore: Sequence[str] = ()) -> Sample:  # fmt: skip
    """Sample process ``pid`` after study number ``study``."""
    rss, peak = memory_mib(pid)
    return Sample(study, wall_s, rss, peak, open_fds(pid), count_files(temp), count_files(written, ignore))


def soak_run_study(studies: Sequence[Path], count: int, work: Path, predictor: Any,
                   progress: Callable[[Sample], None] | None = None) -> tuple[list[Sample], bool]:  # fmt: skip
    """``count`` calls of :func:`hccp53.deploy.run_study` in this process, cycling through ``studies``.

    Each output folder is checked for ``result.json`` and removed before the sample, so that
    ``leftover_files`` counts only what the app itself leaves behind (staging folders and the like).

    Returns
    -------
    tuple
        The samples, and whether the per-study peak could be reset (otherwise ``peak_rss_mib`` is the
        process's peak so far).
    """
    import tempfile

    from hccp53.deploy import RESULT_FILE, run_study

    outputs = work / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.gettempdir())
    per_study = True
    samples = []
    for number in range(count):
        out = outputs / f"study{number:03d}"
        per_study = reset_peak() and per_study
        start = time.perf_counter()
        run_study(studies[number % len(studies)], out, predictor)
        wall = time.perf_counter() - start
        if not (out / RESULT_FILE).is_file():
            raise RuntimeError(f"run_study wrote no {RESULT_FILE} for study {number}.")
        shutil.rmtree(out)
        samples.append(sample(number, wall, "self", temp, outputs))
        if progress is not None:
            progress(samples[-1])
    return samples, per_study


def windows(count: int, warmup: int, window: int) -> tuple[range, range]:
    """The early and the late window of study numbers; they must not overlap."""
    if count < warmup + 2 * window:
        raise ValueError(f"{count} studies are too few for a warm-up of {warmup} and two windows of {window}; "
                         f"give at least {warmup + 2 * window}.")  # fmt: skip
    return range(warmup, warmup + window), range(count - window, count)


def span(window: Sequence[int]) -> str:
    """A window of 0-based study numbers as people count them: ``[5, 14]`` -> ``"6-15"``."""
    return f"{window[0] + 1}-{window[1] + 1}"


def summarize(samples: Sequence[Sample], warmup: int, window: int) -> dict[str, Any]:
    """Early window against late window: peak RSS ratio, descriptor and file growth, wall times.

    The windows are stored as 0-based study numbers, first and last (``Sample.study``).
    """
    early, late = windows(len(samples), warmup, window)
    first, last = samples[early.start], samples[-1]
    early_peak = max(samples[i].peak_rss_mib for i in early)
    late_peak = max(samples[i].peak_rss_mib for i in late)
    walls = sorted(s.wall_s for s in samples)
    return {
        "peak_rss_ratio_late_over_early": late_peak / early_peak,
        "peak_rss_early_mib": early_peak, "peak_rss_late_mib": late_peak,
        "rss_after_first_mib": first.rss_mib, "rss_after_last_mib": last.rss_mib,
        "fd_growth": last.fds - first.fds, "fds_first": first.fds, "fds_last": last.fds,
        "fds_max": max(s.fds for s in samples),
        "temp_file_growth": last.temp_files - first.temp_files,
        "leftover_file_growth": last.leftover_files - first.leftover_files,
        "leftover_files_max": max(s.leftover_files for s in samples),
        "studies": len(samples), "warmup": warmup, "window": window,
        "early_window": [early.start, early.stop - 1], "late_window": [late.start, late.stop - 1],
        "wall_s_median": walls[len(walls) // 2], "wall_s_max": walls[-1], "wall_s_total": sum(walls),
        "samples": [asdict(s) for s in samples],
    }  # fmt: skip


def verdict(summary: dict[str, Any]) -> list[str]:
    """What is wrong with a soak summary, one sentence each (empty: the goals are met)."""
    problems = []
    ratio = summary["peak_rss_ratio_late_over_early"]
    if ratio > RSS_GOAL:
        problems.append(f"peak RSS grew {ratio:.3f}x from studies {span(summary['early_window'])} to "
                        f"{span(summary['late_window'])} (goal <= {RSS_GOAL})")  # fmt: skip
    if summary["fd_growth"] > 0:
        problems.append(f"open file descriptors grew by {summary['fd_growth']} ({summary['fds_first']} -> "
                        f"{summary['fds_last']})")  # fmt: skip
    if summary["temp_file_growth"] > 0:
        problems.append(f"{summary['temp_file_growth']} more files in the temporary folder")
    if summary["leftover_file_growth"] > 0:
        problems.append(f"{summary['leftover_file_growth']} more files left in the written folders")
    return problems
