"""Real MLC corpus scripts run by the runtime, compared with what mlcflow 1.3.8 exports for them.

``tests/data/mlc_run_golden.json`` holds what the real MLC engine (``mlcflow`` 1.3.8 from the
package index) exported on a machine of this kind for each request over the mlperf-automations
snapshot (``mlc_corpus``), run in order with one cache; ``tests/data/make_mlc_run_golden.py``
says how it was produced. As there, a fresh virtual environment is first on ``PATH``, so
``get,python3`` finds it and package installs go into it. For each case the test compares the
script that ran, the exported keys (new_env and new_state), whether the result came from the
cache, and every value that does not depend on where things were created; a request that
failed under mlcflow must fail here with :class:`CMSnakemakeError`.

Every case of the golden file is run: none is skipped or expected to fail, so a difference
from mlcflow shows as a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.runtime.runner import NodeResult

from ..conftest import DATA
from . import goldens

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

GOLDEN = json.loads((DATA / "mlc_run_golden.json").read_text())
CASES: list[dict[str, Any]] = GOLDEN["cases"]


@pytest.fixture(scope="module")
def world(mlc_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return goldens.make_world(mlc_corpus, tmp_path_factory.mktemp("runtime-mlc"))


def _run(
    world: dict[str, Any], case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> NodeResult:
    inputs = goldens.substitute(case["inputs"], {"<tmp>": str(world["root"])})
    return goldens.run_case(world, case["id"], case["tags"], inputs, monkeypatch)


def _differing(
    golden: dict[str, Any], ours: dict[str, Any], skip: set[str]
) -> dict[str, tuple[Any, Any]]:
    """``{key: (ours, mlcflow)}`` for the keys both have whose values differ."""
    return {
        k: (ours[k], v)
        for k, v in golden.items()
        if k not in skip
        and k in ours
        and ours[k] != v
        and not goldens.host_difference(ours[k], v)  # the recorder's kernel, CPU
    }


def _path_or_tmp_keys(case: dict[str, Any]) -> set[str]:
    kinds = case.get("value_kinds") or {}
    return set(case.get("tmp_dependent_keys") or []) | {k for k, v in kinds.items() if v == "path"}


def _state_skip(case: dict[str, Any]) -> set[str]:
    state = case.get("new_state") or {}
    paths = {k for k, v in state.items() if isinstance(v, str) and os.path.isabs(v)}
    return set(case.get("tmp_dependent_state_keys") or []) | paths


def _problems(case: dict[str, Any], result: NodeResult) -> dict[str, Any]:
    """Every way in which the runtime's result differs from mlcflow's, by kind."""
    problems: dict[str, Any] = {}
    script = result.script.rsplit(":", 1)[-1]
    if case["script"] is not None and script != case["script"]:
        problems["script"] = (script, case["script"])
    for name, ours, golden in (
        ("new_env", result.new_env, case["new_env"]),
        ("new_state", result.new_state, case["new_state"]),
    ):
        only_ours = sorted(set(ours) - set(golden))
        only_mlc = sorted(set(golden) - set(ours))
        if only_ours:
            problems[f"{name} keys only ours"] = only_ours
        if only_mlc:
            problems[f"{name} keys only mlcflow"] = only_mlc
    if result.from_cache != case["cached"]:
        problems["from_cache"] = (result.from_cache, case["cached"])
    values = _differing(case["new_env"], result.new_env, _path_or_tmp_keys(case))
    if values:
        problems["new_env values (ours, mlcflow)"] = values
    state = _differing(case["new_state"], result.new_state, _state_skip(case))
    if state:
        problems["new_state values (ours, mlcflow)"] = state
    return problems


def _describe(problems: dict[str, Any]) -> str:
    return "; ".join(f"{kind}: {detail!r}"[:400] for kind, detail in problems.items())


# Where mlcflow picks among several cache entries that match a request by tags, cm-snakemake
# serves the entry of the request's own key (docs/compatibility.md, "Running scripts"). These
# cases check that documented behaviour instead of mlcflow's choice.
DIFFERENT_CHOICE = {
    # mlcflow takes the first entry by sorted tags: the venv's python install-python-venv
    # registered; cm-snakemake serves the same entry as the first plain get,python3
    "get-python3-after-venv": "get-python3-first",
    # mlcflow serves the plain request from the _numpy entry; cm-snakemake runs the script,
    # which fails as it does under mlcflow without a cache (error-generic-python-lib-no-package)
    "get-generic-python-lib-no-variation": None,
}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_exports_agree_with_mlcflow(
    world: dict[str, Any], case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if case["id"] in DIFFERENT_CHOICE:
        same_as = DIFFERENT_CHOICE[case["id"]]
        if same_as is None:
            with pytest.raises(CMSnakemakeError, match="python package variation is not defined"):
                _run(world, case, monkeypatch)
            return
        result = _run(world, case, monkeypatch)
        assert result.from_cache
        assert result.new_env == world["results"][same_as].new_env
        return
    if case["returncode"] != 0:
        with pytest.raises(CMSnakemakeError):
            _run(world, case, monkeypatch)
        return
    result = _run(world, case, monkeypatch)
    world["results"][case["id"]] = result
    problems = _problems(case, result)
    assert not problems, _describe(problems)
    if case["id"].endswith("-second"):  # a cache hit returns what the first run stored
        base = case["id"][: -len("-second")]
        first = world["results"].get(base) or world["results"].get(f"{base}-first")
        assert first is not None, f"the first run of {case['tags']} failed: nothing to compare"
        assert result.new_env == first.new_env
