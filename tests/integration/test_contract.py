"""The planner-runtime contract: what planning hands the runtime, and errors that keep
their cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm_snakemake.errors import CMSnakemakeError, ScriptFailed
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.plan.deps import Child, Dropped, Residual, decide
from cm_snakemake.plan.planner import PlanError, Planner
from cm_snakemake.plan.provider import IndexProvider
from cm_snakemake.runtime.runner import Runtime

from ..conftest import RepoMaker

SCRIPTS = {
    "outer": """\
        alias: outer
        uid: 'c000000000000001'
        tags: [outer]
        default_env: {CM_WANT_INNER: 'yes'}
        deps:
          - tags: inner
            enable_if_env: {CM_WANT_INNER: ['yes']}
          - tags: never
            enable_if_env: {CM_NEVER: ['yes']}
        prehook_deps:
          - tags: later
            enable_if_env: {CM_FROM_PREPROCESS: ['yes']}
        """,
    "inner": "alias: inner\nuid: 'c000000000000002'\ntags: [inner]\n",
    "later": "alias: later\nuid: 'c000000000000003'\ntags: [later]\n",
    "never": "alias: never\nuid: 'c000000000000004'\ntags: [never]\n",
    "nests": "alias: nests\nuid: 'c000000000000005'\ntags: [nests]\n",
    "missing-dep": "alias: missing-dep\nuid: 'c000000000000006'\ntags: [missing-dep]\n"
    "deps: [{tags: 'no,such,script'}]\n",
}
FILES = {
    "outer/customize.py": "def preprocess(i):\n"
    "    i['env']['CM_FROM_PREPROCESS'] = 'yes'\n    return {'return': 0}\n",
    "nests/customize.py": "import cmind\n\n"
    "def preprocess(i):\n"
    "    r = cmind.access({'action': 'run', 'automation': 'script', 'tags': 'no,such,script'})\n"
    "    if r['return'] > 0:\n        return r\n    return {'return': 0}\n",
}


@pytest.fixture
def index(make_repo: RepoMaker, tmp_path: Path) -> ScriptIndex:
    root = make_repo("contract", SCRIPTS, files=FILES)
    return ScriptIndex([open_repository(root)], cache_dir=tmp_path / "idx")


def test_a_prepared_node_holds_the_selected_script_and_its_start(index: ScriptIndex) -> None:
    planner = Planner(IndexProvider(index))
    from cm_snakemake.plan.calls import root_call

    prepared = planner.plan_call(root_call("outer"))
    start, node = prepared.start, prepared.node
    assert start.entry.alias == "outer" and start.meta.alias == "outer"
    assert node.key and node.script == start.entry.name
    assert start.env().get("CM_WANT_INNER") == "yes"
    # a Start does not change: its env is a fresh copy every time
    env = start.env()
    env.set("CM_WANT_INNER", "no")
    assert start.env().get("CM_WANT_INNER") == "yes"
    # the decisions are typed values: static (an edge), dropped (nothing), residual (reason)
    kinds = {d.tags: type(d).__name__ for d in node.deps}
    assert kinds == {"inner": "StaticDep", "later": "ResidualDep"}
    residual = next(d for d in node.deps if d.tags == "later")
    assert "CM_FROM_PREPROCESS" in residual.reason and "preprocess of outer" in residual.reason
    # the shared rule gives the same three answers on a planning env
    deps = {d.tags: d for d in (*start.lists["deps"], *start.lists["prehook_deps"])}
    assert isinstance(decide(start, "deps", deps["inner"], start.env(), ()), Child)
    assert isinstance(decide(start, "deps", deps["never"], start.env(), ()), Dropped)
    walked = start.env()
    from cm_snakemake.plan.penv import Unknown

    walked.set("CM_FROM_PREPROCESS", Unknown("preprocess of outer"))
    assert isinstance(decide(start, "prehook_deps", deps["later"], walked, ()), Residual)


def test_the_runtime_runs_what_was_prepared(
    index: ScriptIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cm_snakemake.plan import planner as planner_module

    prepared = []
    real = planner_module.prepare

    def counting(*args: object, **kwargs: object) -> object:
        start = real(*args, **kwargs)  # type: ignore[arg-type]
        prepared.append(start.entry.alias)
        return start

    monkeypatch.setattr(planner_module, "prepare", counting)
    runtime = Runtime(index, workdir=str(tmp_path))
    result = runtime.run("outer")
    # the plan of the request prepares outer and inner; the prehook dependency 'later' is
    # decided once preprocess has run, and prepared then, once
    assert sorted(prepared) == ["inner", "later", "outer"]
    assert result.deps == ["inner", "later"]


def test_a_missing_dependency_is_a_plan_error_chained_to_its_cause(index: ScriptIndex) -> None:
    with pytest.raises(PlanError) as caught:
        Planner(IndexProvider(index)).plan("missing-dep")
    assert "deps 'no,such,script' of contract:missing-dep" in caught.value.message
    assert isinstance(caught.value.__cause__, CMSnakemakeError)
    assert "no,such,script" in str(caught.value.__cause__)


def test_a_failed_nested_run_keeps_its_error_as_the_cause(
    index: ScriptIndex, tmp_path: Path
) -> None:
    with pytest.raises(ScriptFailed) as caught:
        Runtime(index, workdir=str(tmp_path)).run("nests")
    assert caught.value.script.startswith("contract:nests")
    cause = caught.value.__cause__
    assert isinstance(cause, CMSnakemakeError), "the nested run's error is chained"
    assert "no,such,script" in str(cause)
