"""The MAP layout without Docker: the application folder the packager copies, run as the container runs it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def _map_build():
    spec = importlib.util.spec_from_file_location("map_build", ROOT / "scripts" / "map_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packagers_dockerfile_is_adapted_and_a_changed_template_is_noticed() -> None:
    """scripts/map_build.py builds the packager's own Dockerfile, less NVIDIA's keyring and Ubuntu's pins."""
    import holoscan_cli.packager.templates as templates

    template = (Path(templates.__path__[0]) / "Dockerfile.jinja2").read_text()
    map_build = _map_build()
    adapted = map_build.adapt_dockerfile(template)
    assert "developer.download.nvidia.com/compute/cuda/repos" in template
    assert "cuda-keyring_1.1-1_all.deb" not in adapted and "${PYTHON_VERSION}" not in adapted
    assert "/usr/lib/python3*/EXTERNALLY-MANAGED" in adapted and "python3.12/site-packages" not in adapted
    # the keyring step is gone, one step finishes holoscan's wheel-axle installation after the requirements
    assert adapted.count("\nRUN ") == template.count("\nRUN ")
    requirements = adapted.index("RUN pip install --no-cache-dir --user -r /tmp/requirements.txt")
    assert adapted.index(map_build.FINALISE_AXLE) > requirements
    with pytest.raises(SystemExit, match="no NVIDIA keyring step found"):
        map_build.adapt_dockerfile(adapted)


def test_the_local_manifest_names_the_base_image_for_every_platform(tmp_path: Path) -> None:
    from holoscan_cli.common.artifact_sources import ArtifactSources

    map_build = _map_build()
    sources = ArtifactSources(13)
    sources.load(str(map_build.artifacts_file(tmp_path, "4.2.0")))  # validates it as the packager does
    assert set(sources.base_image("4.2.0").values()) == {map_build.BASE_IMAGE}


def test_make_map_builds_with_podman_and_make_map_run_needs_a_study() -> None:
    dry = subprocess.run(["make", "-n", "map"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert dry.returncode == 0 and "scripts/map_build.py base" in dry.stdout and "map_build.py package" in dry.stdout
    refused = subprocess.run(["make", "map-run"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert refused.returncode != 0 and "give STUDY=<DICOM folder> and OUT=<new folder>" in refused.stderr
