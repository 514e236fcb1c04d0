"""The compatibility tables of docs/compatibility.md stay in step with the corpora and the code.

``tests/data/scan_compat.py`` scans both corpora (cmx4mlops 1.0.1 and mlperf-automations
``20d3d94c``) for what their scripts use of the engine: attributes of ``i['automation']``,
``cmind``/``mlc`` and their ``utils``, ``access`` actions, hook-input keys and meta keys. The
section "Helpers and keys the corpora use" of docs/compatibility.md holds its tables. These tests
re-run the scan and check that the document lists every name it finds, and that the status
written for the names the compatibility layer can be asked about is what the code shows. When
one fails, regenerate the tables (the command is in the document) and review the diff.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.corpus

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "compatibility.md"
SCANNER = ROOT / "tests" / "data" / "scan_compat.py"
MLC_TARBALL = "mlperf-automations-20d3d94c.tar.gz"
REGENERATE = (
    "regenerate the tables with tests/data/scan_compat.py (see docs/compatibility.md, "
    "'Helpers and keys the corpora use') and fill in Status and Note"
)


def _load_scanner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan_compat", SCANNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


scan_compat = _load_scanner()


def _mlc_tarball() -> Path:
    """The MLC corpus snapshot when tests/conftest.py has no ``mlc_corpus`` fixture."""
    given = os.environ.get("CMSM_MLC_CORPUS")
    tried = [Path(given)] if given else [Path("/work/shared/corpora") / MLC_TARBALL]
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        pytest.skip(
            f"no MLC corpus snapshot ({', '.join(map(str, tried))}); set CMSM_MLC_CORPUS to "
            f"the path of {MLC_TARBALL}"
        )
    return found


@pytest.fixture(scope="module")
def mlc_root(request: pytest.FixtureRequest) -> Path:
    """The MLC corpus: tests/conftest.py's ``mlc_corpus`` if it has one, else the tarball."""
    try:
        return Path(request.getfixturevalue("mlc_corpus"))
    except pytest.FixtureLookupError:
        return _mlc_tarball()  # the scanner unpacks it into a temporary folder


@pytest.fixture(scope="module")
def scan(corpus: Path, mlc_root: Path) -> list[dict[str, Any]]:
    rows, info, labels = scan_compat.run(corpus, mlc_root)
    assert labels == ["CM", "MLC"]
    assert info["CM"]["with_customize"] > 250 and info["MLC"]["with_customize"] > 300
    return list(rows)


@pytest.fixture(scope="module")
def documented() -> dict[tuple[str, str], tuple[str, str]]:
    text = DOCS.read_text(encoding="utf-8")
    assert scan_compat.BEGIN in text and scan_compat.END in text, "the generated tables are gone"
    found: dict[tuple[str, str], tuple[str, str]] = scan_compat.read_status(text)
    return found


def test_every_scanned_name_is_in_the_table(
    scan: list[dict[str, Any]], documented: dict[tuple[str, str], tuple[str, str]]
) -> None:
    absent = [
        f"{row['kind']}: {row['name']} (CM {row['CM']}, MLC {row['MLC']} scripts)"
        for row in scan
        if (row["kind"], row["name"]) not in documented
    ]
    assert not absent, "not in docs/compatibility.md: " + "; ".join(absent) + f"; {REGENERATE}"


def test_every_name_has_a_status(documented: dict[tuple[str, str], tuple[str, str]]) -> None:
    unknown = [
        f"{kind}: {name} ({state!r})"
        for (kind, name), (state, _) in documented.items()
        if state not in ("supported", "refused", "missing", "ignored")
    ]
    assert not unknown, "status is not supported/refused/missing/ignored: " + "; ".join(unknown)


def _as_code_sees_it(state: str) -> str:
    """A refused name is one the code does not provide, on purpose."""
    return "missing" if state == "refused" else state


def test_statuses_agree_with_the_code(
    scan: list[dict[str, Any]], documented: dict[tuple[str, str], tuple[str, str]]
) -> None:
    """Where the compatibility layer can be asked (``getattr`` on the automation object and the
    stand-in modules, the keys of the hook input), the table says what it answers."""
    wrong = [
        f"{kind}: {name} is {state} in the code, {documented.get((kind, name), ('?',))[0]} in "
        "the table"
        for (kind, name), state in scan_compat.code_status(scan).items()
        if _as_code_sees_it(documented.get((kind, name), ("?",))[0]) != state
    ]
    assert not wrong, "; ".join(wrong) + f"; {REGENERATE} (--code-status)"
