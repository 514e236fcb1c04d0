"""The subpackages form layers: each imports only the layers its docstring names.

Every import counts, also those inside functions and ``TYPE_CHECKING`` blocks: a type that
crosses a layer the wrong way is a dependency all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cm_snakemake

PACKAGE = Path(cm_snakemake.__file__).parent

# layer -> the layers it may import (besides itself)
_BASE = {"errors", "_util"}
ALLOWED: dict[str, set[str]] = {
    "_util": {"errors"},
    "errors": {"_util"},
    "meta": _BASE,
    "index": _BASE | {"meta"},
    "plan": _BASE | {"meta", "index"},
    "cache": _BASE,
    "offline": _BASE | {"meta", "index", "plan"},
    "runtime": _BASE | {"meta", "index", "plan", "cache", "offline"},
    "compile": _BASE | {"meta", "index", "plan", "cache", "offline", "runtime"},
    "mlperf": _BASE,
    "cli": _BASE
    | {"meta", "index", "plan", "cache", "offline", "runtime", "compile", "mlperf", "__init__"},
    "snake": {"compile"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "repo" not in p.relative_to(PACKAGE).parts)


def _layer(parts: tuple[str, ...]) -> str:
    first = parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imported_layers(path: Path, root: Path = PACKAGE) -> set[tuple[str, int]]:
    """``(layer, line)`` of every import of the package made by the module at ``path``."""
    rel = path.relative_to(root)
    package = list(rel.parts[:-1])  # the package the module belongs to, below cm_snakemake
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                mod = (node.module or "").split(".")
                if mod[0] != "cm_snakemake":
                    continue
                base = mod[1:]
            else:
                base = package[: len(package) - (node.level - 1)] + (
                    node.module.split(".") if node.module else []
                )
            targets = [base] if base else [[alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [
                a.name.split(".")[1:] for a in node.names if a.name.startswith("cm_snakemake.")
            ]
        for target in targets:
            top = target[0]
            known = (root / top).is_dir() or (root / f"{top}.py").is_file()
            found.add((top if known else "__init__", node.lineno))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_layers(path: Path) -> None:
    layer = _layer(path.relative_to(PACKAGE).parts)
    assert layer in ALLOWED, f"{layer}: a new subpackage needs a line in ALLOWED"
    wrong = sorted(
        f"line {line}: {target}"
        for target, line in _imported_layers(path)
        if target != layer and target not in ALLOWED[layer]
    )
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {wrong}"


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "plan").mkdir()
    (tmp_path / "cli").mkdir()
    fake = tmp_path / "meta" / "x.py"
    fake.write_text(
        "from ..plan.planner import Planner\n"
        "import cm_snakemake.cli.main\n"
        "def f():\n    from .. import __version__\n"
    )
    found = {t for t, _ in _imported_layers(fake, tmp_path)}
    assert found == {"plan", "cli", "__init__"}


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert not long, long
