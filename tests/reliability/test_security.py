"""Security checks of issue 9: no code runs from data (weights, configs), and altered weights are refused.

- A scan of the source (ast) finds no ``torch.load`` without ``weights_only=True``, no ``eval`` / ``exec``,
  no ``pickle`` loading, no YAML loading that can build objects and no ``np.load(allow_pickle=True)``.
- The app ends with one sentence, exit status 1 and no output when a weights file was altered.
- The configs the app and ``hccp53 serve`` read at run time are data: a ``$`` expression in them is a string,
  never evaluated (MONAI's bundle parser evaluates them in the bundle workflows: docs/bundle.md, "Configs are
  code").

Patient identifiers in logs: tests/reliability/test_privacy.py.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The code that ships or runs: the library, the app and its operators, the MONAI Label app, scripts, benchmarks.
SCANNED = ("hccp53", "operators", "app.py", "__main__.py", "label", "scripts", "bench")
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def _dotted(node: ast.AST) -> str:
    """``torch.load`` for ``torch.load``, ``np.load`` for ``np.load``; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _call_problem(call: ast.Call) -> str | None:
    name = _dotted(call.func)
    last = name.rsplit(".", 1)[-1]
    if name == "torch.load" and not _is_true(_keyword(call, "weights_only")):
        return "torch.load without weights_only=True"
    if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
        return f"{name}() of a string"
    if name.split(".")[0] in ("pickle", "cPickle", "dill", "joblib") and last in ("load", "loads", "Unpickler"):
        return f"{name}: unpickling runs code"
    if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
        return f"{name} can build arbitrary objects"
    if name in ("yaml.load", "yaml.load_all"):
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        if loader is None or _dotted(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
            return f"{name} without a safe Loader"
    if last == "load" and name.split(".")[0] in ("np", "numpy") and _is_true(_keyword(call, "allow_pickle")):
        return f"{name}(allow_pickle=True)"
    return None


def unsafe_calls(source: str, filename: str = "<sample>") -> list[str]:
    """``file:line: problem`` for each call that loads code from data."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            problem = _call_problem(node)
            if problem:
                found.append(f"{filename}:{node.lineno}: {problem}")
    return found


def _sources() -> list[Path]:
    files = []
    for entry in SCANNED:
        path = ROOT / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*.py"))
        files += [p for p in candidates if not {".venv", "__pycache__"} & set(p.relative_to(ROOT).parts)]
    return files


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nstate = torch.load(path)",
        "import torch\nstate = torch.load(path, weights_only=False)",
        "settings = eval(text)",
        "exec(compile(text, 'x', 'exec'))",
        "import pickle\nobj = pickle.load(handle)",
        "import pickle\nobj = pickle.loads(data)",
        "import yaml\nvalues = yaml.load(text)",
        "import yaml\nvalues = yaml.load(text, Loader=yaml.Loader)",
        "import yaml\nvalues = yaml.unsafe_load(text)",
        "import yaml\nvalues = yaml.full_load(text)",
        "import numpy as np\narray = np.load(path, allow_pickle=True)",
    ],
)
def test_the_checker_flags_code_loaded_from_data(source: str) -> None:
    assert len(unsafe_calls(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nstate = torch.load(path, map_location='cpu', weights_only=True)",
        "network.eval()",
        "import yaml\nvalues = yaml.safe_load(text)",
        "import yaml\nvalues = yaml.load(text, Loader=yaml.SafeLoader)",
        "import numpy as np\narray = np.load(path)",
        "import json\nvalues = json.load(handle)",
    ],
)
def test_the_checker_passes_safe_loading(source: str) -> None:
    assert unsafe_calls(source) == []


def test_no_source_file_loads_code_from_data() -> None:
    files = _sources()
    assert len(files) > 50 and ROOT / "hccp53" / "nets" / "weights.py" in files  # the scan sees the code
    found = [problem for path in files for problem in unsafe_calls(path.read_text(encoding="utf-8"), str(path))]
    assert found == []


def _altered_models(to: Path) -> Path:
    """A copy of models/ whose classifier weights differ from checksums.json by one byte."""
    shutil.copytree(ROOT / "models", to)
    weights = to / "p53_classifier.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    return to


def test_the_app_refuses_altered_weights_with_one_sentence(cohort: Path, tmp_path: Path) -> None:
    """tests/nets/test_weights.py checks load_weights itself; here the app as a hospital runs it."""
    out = tmp_path / "out"
    models = _altered_models(tmp_path / "models")
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "-i", str(cohort / "cases" / "SYN0001" / "dicom"), "-o", str(out),
         "-m", str(models)],
        capture_output=True, text=True, check=False, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=600,
        env={**os.environ})  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("hccp53 app: error:")]
    assert len(errors) == 1
    assert "p53_classifier.pt has sha256" in errors[0] and "not the recorded" in errors[0]
    assert errors[0].count(". ") == 0 and errors[0].endswith(".")  # one sentence
    assert not out.exists() or list(out.iterdir()) == []


EXPRESSION = "$__import__('pathlib').Path({marker!r}).touch()"


def _config_with(source: Path, to: Path, key: str, value: str) -> Path:
    """``source`` with the line of ``key`` replaced by ``key: "value"`` (comments elsewhere kept)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    lines[index] = f'{key}: "{value}"'
    to.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return to


@pytest.mark.parametrize("key", ["min_lesion_ml", "register", "max_voxels_per_series"])
def test_the_apps_inference_settings_refuse_an_expression(tmp_path: Path, key: str) -> None:
    from hccp53.errors import ConfigError
    from hccp53.settings import read_settings

    marker = tmp_path / "evaluated"
    config = _config_with(ROOT / "configs" / "inference.yaml", tmp_path / "inference.yaml", key,
                          EXPRESSION.format(marker=str(marker)))  # fmt: skip
    with pytest.raises(ConfigError, match=rf"The inference setting {key} = .*__import__.* is not a plain "):
        read_settings(config)
    assert not marker.exists()


@pytest.mark.parametrize("key", ["host", "stow_url", "ae_title", "port", "spool"])
def test_the_serve_settings_keep_an_expression_as_text_or_refuse_it(tmp_path: Path, key: str) -> None:
    from hccp53.errors import ConfigError
    from hccp53.pacs.config import read_config

    marker = tmp_path / "evaluated"
    text = EXPRESSION.format(marker=str(marker))
    config = _config_with(ROOT / "configs" / "serve.yaml", tmp_path / "serve.yaml", key, text)
    try:
        value = getattr(read_config(config), key)
    except ConfigError as error:
        assert "__import__" in str(error)  # refused, naming the value
    else:
        assert str(value) == text  # a string, as written
    assert not marker.exists()
