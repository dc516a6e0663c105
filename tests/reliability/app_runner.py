"""Run the Deploy app (``app.main``, what ``python app.py`` runs) on several study folders in one process.

Each run gets its own stdout and stderr files (the file descriptors are redirected, so the Holoscan runtime's
own output is caught too) and one JSON line on this process's stdout: ``{"study", "out", "rc", "stdout",
"stderr", "seconds"}``. The tests run it as a subprocess, so that the app's logging set-up stays out of pytest's
process, and the networks are loaded once per run rather than once per process start::

    python tests/reliability/app_runner.py MODELS LOGS STUDY=OUT [STUDY=OUT ...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_app(study: Path, out: Path, models: Path, logs: Path) -> dict:
    """``app.main`` on one study with fds 1 and 2 sent to ``logs/<study name>.out`` / ``.err``."""
    import app

    logs.mkdir(parents=True, exist_ok=True)
    paths = {name: logs / f"{study.name}.{name}" for name in ("stdout", "stderr")}
    sys.stdout.flush(), sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    started = time.perf_counter()
    try:
        with paths["stdout"].open("wb") as stdout, paths["stderr"].open("wb") as stderr:
            os.dup2(stdout.fileno(), 1), os.dup2(stderr.fileno(), 2)
            rc = app.main([sys.executable, str(ROOT / "app.py"), "-i", str(study), "-o", str(out), "-m", str(models)])
            sys.stdout.flush(), sys.stderr.flush()
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
    return {"study": str(study), "out": str(out), "rc": rc, "seconds": round(time.perf_counter() - started, 3),
            **{name: path.read_text(encoding="utf-8", errors="replace") for name, path in paths.items()}}  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) < 3 or not all("=" in pair for pair in argv[2:]):
        sys.stderr.write(f"usage: {Path(__file__).name} MODELS LOGS STUDY=OUT [STUDY=OUT ...]\n")
        return 2
    sys.path.insert(0, str(ROOT))
    from hccp53.runtime import raise_stack_limit

    raise_stack_limit()
    models, logs = Path(argv[0]), Path(argv[1])
    for pair in argv[2:]:
        study, out = pair.split("=", 1)
        print(json.dumps(run_app(Path(study), Path(out), models, logs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
