"""The planner against real CM: variations, env and first-level dependencies of 65 requests.

``tests/data/cm_plan_golden.json`` holds what CM 4.2.0 (``cmind`` from the package index)
computed for each request over the cmx4mlops 1.0.1 corpus, captured inside CM with
``fake_run``/``fake_deps`` (nothing executed); ``tests/data/make_cm_plan_golden.py`` says
how it was produced. Each case is compared for the selected script, the resolved variations in
CM's order, the env before the first dependency runs, and which first-level dependencies CM
calls (with which tags). Deliberate differences are listed in ``DIFFERENCES`` with the reason,
and are asserted as differences.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.meta.tags import split_tags
from cm_snakemake.plan.model import Plan, ResidualDep, StaticDep
from cm_snakemake.plan.planner import Planner
from cm_snakemake.plan.provider import IndexProvider

from ..conftest import DATA

pytestmark = pytest.mark.corpus

GOLDEN = json.loads((DATA / "cm_plan_golden.json").read_text())
CASES = {c["id"]: c for c in GOLDEN["cases"]}

# Keys CM sets for its own control flow, or from where it runs: not part of a plan.
CONTROL_KEYS = {
    "CM_QUIET", "CM_TMP_FAKE_RUN", "CM_TMP_FAKE_DEPS", "CM_TMP_CURRENT_PATH",
    "CM_TMP_CURRENT_SCRIPT_PATH", "CM_TMP_CURRENT_SCRIPT_REPO_PATH",
    "CM_TMP_CURRENT_SCRIPT_REPO_PATH_WITH_PREFIX", "CM_TMP_PIP_VERSION_STRING",
}  # fmt: skip


@pytest.fixture(scope="module")
def provider(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexProvider:
    """Only the corpus, as in the CM run (the bundled repository would add candidates)."""
    return IndexProvider(
        ScriptIndex([open_repository(corpus)], cache_dir=tmp_path_factory.mktemp("idx"))
    )


def cm_env_before_deps(case: dict[str, Any], corpus: Path) -> dict[str, Any]:
    env = dict(case["env"])
    delta = case.get("env_before_deps") or {}
    env.update(delta.get("set") or {})
    for key in delta.get("removed") or []:
        env.pop(key, None)
    text = json.dumps({k: v for k, v in env.items() if k not in CONTROL_KEYS})
    result: dict[str, Any] = json.loads(text.replace("<CORPUS>", str(corpus)))
    return result


def same_value(ours: Any, cm: Any) -> bool:
    """Equal up to YAML 1.1 typing, which we keep as written (see docs/compatibility.md)."""
    if isinstance(cm, bool):
        return str(ours).lower() in ({"yes", "true", "on"} if cm else {"no", "false", "off"})
    if isinstance(cm, int | float) and isinstance(ours, str):
        try:
            return float(ours) == float(cm)
        except ValueError:
            return False
    return bool(ours == cm)


def our_env(plan: Plan) -> dict[str, Any]:
    node = plan.node(plan.root)
    return {k: v for k, v in node.resolved_env.items() if k not in CONTROL_KEYS}


def called(case: dict[str, Any]) -> list[tuple[str, str]]:
    """CM's first-level deps of the ``deps`` list that it calls, with their final tags."""
    result = []
    for dep in case.get("called_deps") or []:
        status = dep.get("status_with_hidden_keys_restored") or dep["status"]
        if dep["list"] == "deps" and status == "called":
            result.append((dep["tags_static"], dep.get("tags") or dep["tags_static"]))
    return result


def ours_called(plan: Plan) -> list[tuple[str, str | None]]:
    node = plan.node(plan.root)
    out: list[tuple[str, str | None]] = []
    for dep in node.deps:
        if dep.list != "deps":
            continue
        if isinstance(dep, StaticDep):
            out.append((dep.declared, dep.tags))
        else:
            out.append((dep.tags, None))
    return out


def test_the_golden_data_is_complete() -> None:
    assert GOLDEN["cmind_version"] == "4.2.0"
    assert len(CASES) >= 60
    assert sum(c["returncode"] == 0 for c in CASES.values()) >= 45


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_plan_agrees_with_cm(provider: IndexProvider, corpus: Path, case_id: str) -> None:
    case = CASES[case_id]
    inputs = dict(case["inputs"])
    if case["returncode"] != 0:
        with pytest.raises(CMSnakemakeError):
            Planner(provider).plan(case["tags"], inputs)
        return
    plan = Planner(provider).plan(case["tags"], inputs)
    root = plan.node(plan.root)
    assert root.alias == case["script"]
    assert list(root.variations) == [v for v in case["variations"] if not v.startswith("-")]
    expected_env = cm_env_before_deps(case, corpus)
    ours = our_env(plan)
    differing = {
        k: (ours.get(k), v) for k, v in expected_env.items() if not same_value(ours.get(k), v)
    }
    assert differing == {}
    assert sorted(set(ours) - set(expected_env)) == []
    theirs = called(case)
    mine = ours_called(plan)
    assert [static for static, _ in mine] == [static for static, _ in theirs]
    for (_, final), (_, cm_final) in zip(mine, theirs, strict=True):
        if final is not None:  # residual deps get their final tags at run time
            assert set(split_tags(final)) == set(split_tags(cm_final))
    assert all(d.reason for d in root.deps if isinstance(d, ResidualDep))
