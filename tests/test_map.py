"""The MAP layout without Docker: the application folder the packager copies, run as the container runs it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from holoscan_cli.packager.config_reader import ApplicationConfiguration

ROOT = Path(__file__).resolve().parents[1]


def _assemble(target: Path) -> Path:
    spec = importlib.util.spec_from_file_location("map_app", ROOT / "scripts" / "map_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.assemble(target)


def test_holoscan_cli_reads_app_yaml() -> None:
    config = ApplicationConfiguration()
    config.read(ROOT / "app.yaml")
    assert config.title().startswith("hccp53")
    assert config._resource_object["gpu"] == 0 and config._application_object["input-formats"] == ["file"]


def test_the_packaged_folder_runs_through_the_holoscan_variables(vendor_cohorts: dict[str, Path],
                                                                 tmp_path: Path) -> None:  # fmt: skip
    opt = tmp_path / "opt" / "holoscan"
    app = _assemble(opt / "app")
    assert sorted(p.name for p in app.iterdir()) == sorted(
        ["app.py", "__main__.py", "app.yaml", "requirements.txt", "operators", "hccp53", "configs",
         *(["LICENSE"] if (ROOT / "LICENSE").is_file() else [])])  # fmt: skip
    assert not list(app.rglob("*.pt")) and not list(app.rglob("__pycache__"))
    models = opt / "models"
    shutil.copytree(ROOT / "models", models, ignore=shutil.ignore_patterns("*.md", "*.json~"))
    study = sorted((vendor_cohorts["philips"] / "cases").iterdir())[0] / "dicom"
    env = {**os.environ, "HOLOSCAN_INPUT_PATH": str(study), "HOLOSCAN_OUTPUT_PATH": str(opt / "output"),
           "HOLOSCAN_MODEL_PATH": str(models), "HOLOSCAN_CONFIG_PATH": str(app / "app.yaml")}  # fmt: skip
    code = "import sys; sys.path.insert(0, sys.argv[1]); import hccp53; print(hccp53.__file__)"
    probe = subprocess.run([sys.executable, "-c", code, str(app)], capture_output=True, text=True, check=True)
    assert probe.stdout.strip().startswith(str(app)), "the app must run on its own copy of the library"
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, check=False, env=env,
                            cwd=tmp_path, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads((opt / "output" / "result.json").read_text())
    assert document["model"]["sha256"]["p53_classifier.pt"] and (opt / "output" / "p53_sr.dcm").is_file()


def test_make_map_assembles_the_folder_and_calls_the_packager() -> None:
    result = subprocess.run(["make", "-n", "map"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0 and "scripts/map_app.py build/map/app" in result.stdout
    assert "monai-deploy\" package build/map/app -c app.yaml -m models" in result.stdout
