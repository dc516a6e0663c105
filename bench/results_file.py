"""What every benchmark shares: the machine description and ``bench/results.json`` (read, merged, written)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from hccp53 import __version__

RESULTS = Path(__file__).resolve().parent / "results.json"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: platform's answer stands
    return platform.processor() or platform.machine()


def machine(**versions: str | None) -> dict[str, Any]:
    """What the numbers were measured on (with the load average when they were written, since the machine may be
    shared); ``versions`` adds the packages a benchmark depends on."""
    memory_gib = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "memory_gib": memory_gib, "python": platform.python_version(), "hccp53": __version__,
            "load_average_1_5_15_min": load, **versions}  # fmt: skip


def load_results(path: Path, prog: str) -> dict[str, Any]:
    """The results file's content ({} when absent); stops with a sentence naming ``prog`` if it is unusable."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"{prog}: cannot read {path} ({error}); fix or delete it and run again.") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{prog}: {path} does not hold a JSON object; fix or delete it and run again.")
    return data


def merge_results(path: Path, prog: str, key: str, value: Any) -> None:
    """Set ``key`` of the results file to ``value``, keeping every other key; written atomically."""
    data = load_results(path, prog)
    data[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
