"""The library's parts depend on each other one way, and the library does not load the MONAI Deploy SDK.

The import graph is read from the source with :mod:`ast`: every ``import`` and ``from ... import`` statement
of every module under ``hccp53/``, at any depth (function-local and ``if TYPE_CHECKING:`` imports count:
they are dependencies too, only deferred). A cycle is reported edge by edge, with the importing module and
line, so that the message says which import to move.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hccp53"
#: Holoscan and the MONAI Deploy SDK: only app.py and operators/ may use them.
DEPLOY_SDK = ("holoscan", "monai.deploy")


def library_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the library (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """The dotted names ``module`` imports, with their line: ``from a.b import c`` gives ``a.b.c``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def owner(name: str, modules: dict[str, Path]) -> str | None:
    """The library module that defines ``name`` (``hccp53.errors.InputError`` -> ``hccp53.errors``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def first_level(module: str) -> str:
    """``hccp53.training.runner`` -> ``hccp53.training``; ``hccp53.deploy`` and ``hccp53`` stay as they are."""
    return ".".join(module.split(".")[:2])


def dependencies(node_of: Callable[[str], str]) -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> ``["module:line", ...]`` between the nodes that ``node_of`` maps modules to."""
    modules = library_modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules.items():
        for name, line in imported_names(module, path):
            target = owner(name, modules) if name.split(".")[0] == "hccp53" else None
            if target is not None and node_of(target) != node_of(module):
                edges[(node_of(module), node_of(target))].append(f"{module}:{line} imports {target}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node, each as a sorted list of nodes."""
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported in edges:
        graph[importer].add(imported)
    reach = {}
    for start in list(graph):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    components = {frozenset(b for b in graph if b == a or (b in reach[a] and a in reach[b])) for a in graph}
    return sorted(sorted(c) for c in components if len(c) > 1)


def describe(edges: dict[tuple[str, str], list[str]]) -> str:
    """Every cycle with the edges inside it and the imports behind each edge; empty when there is none."""
    lines = []
    for component in cycles(edges):
        lines.append(f"cycle between {', '.join(component)}:")
        for (importer, imported), where in sorted(edges.items()):
            if importer in component and imported in component:
                where = sorted(set(where), key=lambda text: (text.split(":")[0], int(text.split(":")[1].split()[0])))
                lines.append(f"  {importer} -> {imported}: " + "; ".join(where))
    return "\n".join(lines)


def test_the_graph_is_read_from_every_kind_of_import(tmp_path: Path) -> None:
    """The reader sees top-level, function-local, TYPE_CHECKING and relative imports; a planted cycle is found."""
    source = tmp_path / "runner.py"
    source.write_text(textwrap.dedent("""\
        from typing import TYPE_CHECKING
        import hccp53.errors
        from hccp53 import PHASES
        from . import handlers
        if TYPE_CHECKING:
            from hccp53.synth.case import CaseResult
        def run():
            from ..evaluation import scoring
        """))
    found = dict(imported_names("hccp53.training.runner", source))
    assert {"hccp53.errors": 2, "hccp53.PHASES": 3, "hccp53.training.handlers": 4, "hccp53.synth.case.CaseResult": 6,
            "hccp53.evaluation.scoring": 8} == {k: v for k, v in found.items() if k.startswith("hccp53")}  # fmt: skip
    modules = library_modules()
    assert {"hccp53", "hccp53.deploy", "hccp53.training.runner", "hccp53.synth.truth"} <= set(modules)
    assert owner("hccp53.PHASES", modules) == "hccp53" and owner("hccp53.errors.InputError", modules) == "hccp53.errors"
    planted = {("a", "b"): ["a.x:1 imports b.y"], ("b", "c"): ["b.y:2 imports c"], ("c", "a"): ["c:3 imports a"],
               ("c", "d"): ["c:4 imports d"]}  # fmt: skip
    assert cycles(planted) == [["a", "b", "c"]]
    assert "  c -> a: c:3 imports a" in describe(planted) and "-> d" not in describe(planted)


def test_the_first_level_packages_and_modules_of_hccp53_form_no_cycle() -> None:
    problems = describe(dependencies(first_level))
    assert not problems, "the packages of hccp53 import each other; break each cycle below:\n" + problems


def test_no_two_modules_import_each_other_even_through_others() -> None:
    problems = describe(dependencies(lambda module: module))
    assert not problems, "modules of hccp53 import each other; break each cycle below:\n" + problems


def test_no_module_of_the_library_imports_holoscan_or_the_deploy_sdk() -> None:
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for module, path in library_modules().items() for name, line in imported_names(module, path)
             if name.startswith(tuple(f"{prefix}." for prefix in DEPLOY_SDK)) or name in DEPLOY_SDK]  # fmt: skip
    assert not found, "only app.py and operators/ may use Holoscan or the MONAI Deploy SDK: " + "; ".join(found)


def test_importing_hccp53_deploy_loads_neither_holoscan_nor_the_deploy_sdk() -> None:
    """In a fresh interpreter. Note that ``import monai`` alone would fail this: MONAI's ``__init__`` imports
    every subpackage of ``monai``, and the Deploy SDK installs itself as ``monai.deploy``, which imports
    Holoscan; so ``hccp53.deploy`` imports MONAI (and torch) only inside the functions that need them."""
    code = ("import json, sys, hccp53.deploy; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'holoscan' or m == 'monai.deploy' or m.startswith('monai.deploy.'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import hccp53.deploy loaded {loaded[:5]} ({len(loaded)} modules)"
