"""Real corpus scripts run by the runtime, compared with what CM 4.2.0 exports for them.

``tests/data/cm_run_golden.json`` holds what real CM (``cmind`` 4.2.0 from the package index)
exported on a machine of this kind for each request, run in order with one cache;
``tests/data/make_cm_run_golden.py`` says how it was produced. As there, a fresh virtual
environment is first on ``PATH``, so ``get,python3`` finds it and package installs go into it.
For each case the test compares the exported keys (new_env and new_state), whether the result
came from the cache, and every value that does not depend on where things were created.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.cache.store import CacheStore
from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.runtime.runner import NodeResult, Runtime

from ..conftest import DATA

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

GOLDEN = json.loads((DATA / "cm_run_golden.json").read_text())
# Slow cases that add nothing the others do not show, left to the generator's record.
SKIPPED = {"install-python-venv", "dump-pip-freeze", "get-docker"}
CASES = [c for c in GOLDEN["cases"] if c["id"] not in SKIPPED]


@pytest.fixture(scope="module")
def world(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("runtime")
    venv = root / "pyvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return {
        "root": root,
        "venv": venv,
        "index": ScriptIndex([open_repository(corpus)]),
        "cache": CacheStore(root / "cache"),
        "results": {},
    }


def _inputs(case: dict[str, Any], root: Path) -> dict[str, Any]:
    text = json.dumps(case["inputs"]).replace("<tmp>", str(root))
    data: dict[str, Any] = json.loads(text)
    return data


def _run(
    world: dict[str, Any], case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> NodeResult:
    root = world["root"]
    monkeypatch.setenv("PATH", f"{world['venv'] / 'bin'}{os.pathsep}{os.environ['PATH']}")
    work = root / "work" / case["id"]
    work.mkdir(parents=True)
    runtime = Runtime(world["index"], cache=world["cache"], workdir=str(work))
    return runtime.run(case["tags"], _inputs(case, root))


def _comparable(case: dict[str, Any], key: str) -> bool:
    kinds = case.get("value_kinds") or {}
    return key not in set(case.get("tmp_dependent_keys") or []) and kinds.get(key) != "path"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_exports_agree_with_cm(
    world: dict[str, Any], case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if case["returncode"] != 0:
        with pytest.raises(CMSnakemakeError):
            _run(world, case, monkeypatch)
        return
    result = _run(world, case, monkeypatch)
    world["results"][case["id"]] = result
    assert sorted(result.new_env) == sorted(case["new_env"])
    assert sorted(result.new_state) == sorted(case["new_state"])
    assert result.from_cache == case["cached"]
    differing = {
        k: (result.new_env[k], v)
        for k, v in case["new_env"].items()
        if _comparable(case, k) and result.new_env[k] != v
    }
    assert differing == {}
    if case["id"].endswith("-second"):  # a cache hit returns what the first run stored
        base = case["id"][: -len("-second")]
        first = world["results"].get(base) or world["results"][f"{base}-first"]
        assert result.new_env == first.new_env
