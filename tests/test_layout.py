"""The repository layout of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import hccp53

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout_of_the_design_card() -> None:
    for name in ("app.py", "app.yaml", "requirements.txt", "__main__.py", "pyproject.toml", "Makefile",
                 "README.md", ".ci/run"):
        assert (ROOT / name).is_file(), name
    for name in ("operators", "hccp53", "configs", "models", "docs", "tests", "bench"):
        assert (ROOT / name).is_dir(), name


def test_readme_layout_names_every_package_and_top_level_module_of_the_library() -> None:
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Documentation")]
    package = ROOT / "hccp53"
    names = [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    names += [p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    missing = [name for name in sorted(names) if name not in layout]
    assert not missing, f"README Layout lacks {missing}"
    folders = ("operators", "label", "configs", "models", "scripts", "docs", "tests", "bench")
    assert [name for name in folders if f"{name}/" not in layout] == []


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:12])
    assert "make demo" in head and "make test" in head


def test_ci_runs_make_test_only() -> None:
    commands = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test"


def test_requirements_pin_cpu_torch_first_and_no_torchvision() -> None:
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert pins[0] == "torch==2.13.0"
    assert all("==" in line for line in pins)
    assert not any(line.startswith(("torchvision", "timm")) for line in pins)


def _pins(name: str) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return dict(line.split("==") for line in lines if line)


def test_the_maps_requirements_are_a_subset_with_the_same_pins() -> None:
    host, image = _pins("requirements.txt"), _pins("requirements-map.txt")
    assert list(image)[0] == "torch" and set(image) <= set(host)
    assert {name: host[name] for name in image} == image
    left_out = {"pytorch-ignite", "scikit-learn", "pandas"}  # `import monai` skips its optional modules without them
    assert not left_out & set(image)


def test_version_is_the_same_everywhere() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    app_yaml = (ROOT / "app.yaml").read_text()
    assert f'version = "{hccp53.__version__}"' in pyproject
    assert hccp53.__version__ in app_yaml
