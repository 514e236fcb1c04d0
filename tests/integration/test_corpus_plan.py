"""Planning the real cmx4mlops corpus: every script, and the MLPerf reference request."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.index.repos import BUNDLED_REPO_PATH, open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.meta.tags import TagQuery
from cm_snakemake.plan.planner import Planner
from cm_snakemake.plan.provider import IndexProvider
from cm_snakemake.runtime.facts import collect_facts

from ..conftest import DATA

pytestmark = pytest.mark.corpus

MLPERF = "app,mlperf,inference,_reference,_resnet50,_onnxruntime,_cpu,_offline,_test"


@pytest.fixture(scope="module")
def provider(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexProvider:
    repos = [open_repository(BUNDLED_REPO_PATH, bundled=True), open_repository(corpus)]
    return IndexProvider(ScriptIndex(repos, cache_dir=tmp_path_factory.mktemp("idx")))


@pytest.fixture(scope="module")
def facts(provider: IndexProvider) -> dict[str, dict[str, str]]:
    scripts: dict[str, dict[str, str]] = collect_facts(provider.index)["scripts"]
    return scripts


def test_every_corpus_script_plans_or_fails_clearly(
    provider: IndexProvider, facts: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    planned = 0
    failures: dict[str, str] = {}
    kinds: collections.Counter[str] = collections.Counter()
    for entry in provider.index.usable():
        if entry.repo != "cmx4mlops":
            continue
        try:
            plan = Planner(provider, facts=facts).plan(
                TagQuery(), artifact=f"{entry.repo}:{entry.alias}"
            )
        except CMSnakemakeError as exc:  # anything else fails the test: no crash allowed
            failures[entry.alias] = exc.render().splitlines()[0]
            kinds[type(exc).__name__] += 1
            continue
        assert plan.node(plan.root).alias == entry.alias
        planned += 1
    with capsys.disabled():
        print(
            f"\ncmx4mlops 1.0.1, each script without variations: {planned} planned, "
            f"{len(failures)} failed with a clear error ({dict(kinds)}):"
        )
        for alias, message in sorted(failures.items()):
            print(f"  {alias}: {message}")
    assert planned >= 300
    assert all("dependency cycle" in m or "no script found" in m for m in failures.values())


def test_the_mlperf_reference_request_plans_completely(
    provider: IndexProvider, facts: dict[str, dict[str, str]]
) -> None:
    plan = Planner(provider, facts=facts).plan(MLPERF)
    root = plan.node(plan.root)
    assert root.alias == "app-mlperf-inference"
    assert root.variations[:6] == ("reference", "resnet50", "onnxruntime", "cpu", "offline", "test")
    aliases = {n.alias for n in plan.nodes.values()}
    assert {
        "app-mlperf-inference-mlcommons-python",
        "get-ml-model-resnet50",
        "get-preprocessed-dataset-imagenet",
        "get-dataset-imagenet-val",
        "get-mlperf-inference-loadgen",
        "get-mlperf-inference-src",
        "get-python3",
        "generate-mlperf-inference-user-conf",
        "get-generic-python-lib",
    } <= aliases
    model = next(n for n in plan.nodes.values() if n.alias == "get-ml-model-resnet50")
    assert {"onnx", "fp32"} <= set(model.variations)
    stats = plan.stats()
    assert stats["static_share"] >= 0.75
    detect = [n for n in plan.nodes.values() if n.alias == "detect-os"]
    assert len(detect) == 1 and detect[0].facts  # one node, decided by host facts
    # every residual dependency says why it waits for run time
    assert all(d.reason for n in plan.nodes.values() for d in n.residual_deps)


def test_same_request_same_keys(provider: IndexProvider, facts: dict[str, dict[str, str]]) -> None:
    a = Planner(provider, facts=facts).plan(MLPERF)
    b = Planner(provider, facts=facts).plan(MLPERF)
    assert list(a.nodes) == list(b.nodes)
    c = Planner(provider, facts=facts).plan(MLPERF.replace("_offline", "_server"))
    assert c.root != a.root
    shared = set(a.nodes) & set(c.nodes)
    assert any(a.nodes[k].alias == "get-ml-model-resnet50" for k in shared)  # model reused


def test_mlc_dialect_plans() -> None:
    provider = IndexProvider(ScriptIndex([open_repository(DATA / "mlc-repo")]))
    plan = Planner(provider).plan("app,mlc-demo", {"env": {"MLC_DEMO_TOOL_PATH": "/opt/tool"}})
    root = plan.node(plan.root)
    assert root.variations == ("fast",)
    (tool_dep,) = [d for d in root.static_deps if d.names == ("mlc-tool",)]
    # <<<VAR>>> in dep tags (MLC) and list values in update_tags_from_env_with_prefix
    assert tool_dep.tags == "get,mlc-tool,_fast,_path./opt/tool"
    tool = plan.node(tool_dep.key)
    assert tool.variations == ("fast", "path./opt/tool")
    assert tool.versions == {"version": "20.10", "version_min": "1.0"}
    # update_tags_if_env adds _slow, which conflicts with _fast in the tool's group
    with pytest.raises(CMSnakemakeError, match="_fast, _slow are all in group 'speed'"):
        Planner(provider).plan("app,mlc-demo", {"env": {"MLC_DEMO_SLOW": "yes"}})


def test_the_plan_lists_what_the_mlperf_reference_request_fetches(
    provider: IndexProvider, facts: dict[str, dict[str, str]]
) -> None:
    from cm_snakemake.plan.network import network_needs

    needs = network_needs(Planner(provider, facts=facts).plan(MLPERF))
    downloads = {n.what: n for n in needs if n.kind == "download"}
    # the model and ImageNet's auxiliary files, with CM's MD5 checksums; whether a local copy
    # replaces them is for download-and-extract's preprocess to say, so run time decides
    model = downloads["https://zenodo.org/record/4735647/files/resnet50_v1.onnx"]
    assert model.detail.startswith("md5:f6a4da60cd5f084d97efc2c1ddb10beb") and not model.known
    assert "http://dl.caffe.berkeleyvision.org/caffe_ilsvrc12.tar.gz" in downloads
    pip = {n.what for n in needs if n.kind == "pip"}
    assert {"onnxruntime", "numpy<=1.26.4", "pycocotools"} <= pip
    # the inference source's clone: get-mlperf-inference-src asks for get-git-repo with tags
    # its preprocess decides; the plan names it as a need of run time
    git = [n for n in needs if n.kind == "git"]
    assert git and all(not n.known and "'get,git,repo'" in n.what for n in git)
