"""Assemble the MAP's application folder: exactly what `monai-deploy package` copies to /opt/holoscan/app.

    python scripts/map_app.py build/map/app         # then: monai-deploy package build/map/app -c app.yaml ...

The folder holds app.py, __main__.py, app.yaml, requirements.txt (requirements-map.txt: what the app
imports at run time), the operators, the hccp53 library and
its configs, and nothing else (no tests, virtual environment, runs or weights: the weights go to
/opt/holoscan/models through `monai-deploy package -m models`). `make map` runs this and the packager;
tests/test_map.py runs the assembled folder the way the MAP's container does, through HOLOSCAN_* variables.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("app.py", "__main__.py", "app.yaml", "LICENSE")
FOLDERS = ("operators", "hccp53", "configs")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def assemble(target: Path) -> Path:
    """Copy the application files into ``target`` (which must not exist yet)."""
    if target.exists():
        raise SystemExit(f"map_app: {target} exists; remove it or choose another folder.")
    target.mkdir(parents=True)
    for name in FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target / name)
    shutil.copy2(ROOT / "requirements-map.txt", target / "requirements.txt")  # the run-time subset
    for name in FOLDERS:
        shutil.copytree(ROOT / name, target / name, ignore=IGNORE)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="folder to create (e.g. build/map/app)")
    args = parser.parse_args(argv)
    print(f"map_app: application folder assembled in {assemble(args.target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
