"""The planner on small repositories: CM's order, partial evaluation, keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.plan.model import Plan, PlanNode, ResidualDep, StaticDep
from cm_snakemake.plan.planner import CycleError, PlanError, Planner
from cm_snakemake.plan.provider import IndexProvider

from ..conftest import RepoMaker

UID = iter(f"{n:016x}" for n in range(1, 10_000))

PROBE = {
    "t-consumer": """
        alias: t-consumer
        uid: '{uid}'
        tags: [t, consumer]
        input_mapping: {{foo: T_LOCAL}}
        env: {{T_CONSUMER: 'yes'}}
        new_env_keys: [T_*]
        deps:
        - tags: t,cond,_a
          enable_if_env: {{T_PRODUCED: ['yes']}}
        - tags: t,producer
        - tags: t,cond,_b
          enable_if_env: {{T_PRODUCED: ['yes']}}
        - tags: t,meta-producer
        - tags: t,cond,_a
          enable_if_env: {{T_META: ['yes']}}
        - tags: t,local
          env: {{T_DEPENV: from-dep}}
          version: 1.2.3
          force_env_keys: [CM_GIT_*]
        prehook_deps:
        - tags: t,prehook
          enable_if_env: {{T_PRE: ['yes']}}
        posthook_deps:
        - tags: t,posthook
          enable_if_env: {{T_FROM_RUN: ['on']}}
        post_deps:
        - tags: t,postdep
          enable_if_env: {{T_POST: ['yes']}}
    """,
    "t-producer": "alias: t-producer\nuid: '{uid}'\ntags: [t, producer]\nnew_env_keys: [T_*]\n",
    "t-meta-producer": (
        "alias: t-meta-producer\nuid: '{uid}'\ntags: [t, meta-producer]\n"
        "env: {{T_META: 'yes'}}\nnew_env_keys: [T_META]\n"
    ),
    "t-cond": (
        "alias: t-cond\nuid: '{uid}'\ntags: [t, cond]\nvariations: {{a: {{}}, b: {{}}}}\n"
        "env: {{T_LOCAL: from-t-cond-meta}}\n"
    ),
    "t-local": "alias: t-local\nuid: '{uid}'\ntags: [t, local]\n",
    "t-prehook": "alias: t-prehook\nuid: '{uid}'\ntags: [t, prehook]\n",
    "t-posthook": "alias: t-posthook\nuid: '{uid}'\ntags: [t, posthook]\n",
    "t-postdep": "alias: t-postdep\nuid: '{uid}'\ntags: [t, postdep]\n",
}
FILES = {
    "t-consumer/customize.py": (
        "def preprocess(i):\n    i['env']['T_PRE'] = 'yes'\n    return {'return': 0}\n\n"
        "def postprocess(i):\n    env = i['env']\n    env['T_POST'] = 'yes'\n"
        "    return {'return': 0}\n"
    ),
    "t-consumer/run.sh": 'echo "T_FROM_RUN=1" >> tmp-run-env.out\n',
    "t-producer/run.sh": 'echo "T_PRODUCED=yes" >> tmp-run-env.out\n',
}


def make_probe(make_repo: RepoMaker, extra: dict[str, str] | None = None) -> ScriptIndex:
    scripts = {k: v.format(uid=next(UID)) for k, v in {**PROBE, **(extra or {})}.items()}
    root = make_repo("probe", scripts, files=FILES)
    return ScriptIndex([open_repository(root)])


def plan(index: ScriptIndex, request: str, **inputs: object) -> Plan:
    return Planner(IndexProvider(index)).plan(request, inputs)


def by_tags(node: PlanNode) -> dict[str, StaticDep | ResidualDep]:
    return {f"{d.list}:{d.tags}": d for d in node.deps}


def test_probe_trace_as_partial_evaluation(make_repo: RepoMaker) -> None:
    result = plan(make_repo and make_probe(make_repo), "t,consumer")
    root = result.node(result.root)
    deps = by_tags(root)
    # evaluated before the producer ran: T_PRODUCED is absent, so statically false (dropped)
    assert [d.tags for d in root.deps].count("t,cond,_a") == 1
    # after the producer: its run.sh writes T_PRODUCED, known only at run time
    assert isinstance(deps["deps:t,cond,_b"], ResidualDep)
    assert "T_PRODUCED is decided by native script of t-producer" in deps["deps:t,cond,_b"].reason
    # a value exported from meta env is known: the condition holds statically
    assert isinstance(deps["deps:t,cond,_a"], StaticDep)
    assert isinstance(deps["deps:t,local"], StaticDep)
    assert "preprocess of t-consumer" in deps["prehook_deps:t,prehook"].reason  # type: ignore[union-attr]
    assert "native script of t-consumer" in deps["posthook_deps:t,posthook"].reason  # type: ignore[union-attr]
    assert "postprocess of t-consumer" in deps["post_deps:t,postdep"].reason  # type: ignore[union-attr]
    order = [f"{d.list}:{d.tags}" for d in root.deps]
    assert order == [
        "deps:t,producer",
        "deps:t,cond,_b",
        "deps:t,meta-producer",
        "deps:t,cond,_a",
        "deps:t,local",
        "prehook_deps:t,prehook",
        "posthook_deps:t,posthook",
        "post_deps:t,postdep",
    ]


def test_env_reaching_a_dependency(make_repo: RepoMaker) -> None:
    index = make_probe(make_repo)
    result = plan(index, "t,consumer", foo="FROM-INPUT", env={"CM_GIT_X": "g", "CM_TMP_Y": "t"})
    root = result.node(result.root)
    local = result.node(by_tags(root)["deps:t,local"].key)  # type: ignore[union-attr]
    assert local.env["T_DEPENV"] == "from-dep"
    assert local.env["CM_GIT_X"] == "g"  # forced back for this dep
    assert "CM_TMP_Y" not in local.env  # a local key, hidden from deps
    assert local.inputs == {}
    assert local.versions == {"version": "1.2.3"}
    cond = result.node(by_tags(root)["deps:t,cond,_a"].key)  # type: ignore[union-attr]
    assert "CM_GIT_X" not in cond.env
    # input_mapping makes const for the whole subtree: it beats the child's own meta env
    assert cond.const["T_LOCAL"] == "FROM-INPUT"
    assert root.const == {"T_LOCAL": "FROM-INPUT"}


def test_keys_follow_meaning(make_repo: RepoMaker, tmp_path: Path) -> None:
    index = make_probe(make_repo)
    a = plan(index, "t,cond,_a")
    again = plan(index, "t,cond,_a")
    b = plan(index, "t,cond,_b")
    assert a.root == again.root
    assert a.root != b.root
    meta = tmp_path / "probe" / "script" / "t-cond" / "_cm.yaml"
    text = meta.read_text()
    meta.write_text("# reformatted\n" + text.replace("tags: [t, cond]", "tags:\n- t\n- cond"))
    reformatted = plan(ScriptIndex([open_repository(tmp_path / "probe")]), "t,cond,_a")
    assert reformatted.root == a.root
    meta.write_text(text.replace("from-t-cond-meta", "changed"))
    changed = plan(ScriptIndex([open_repository(tmp_path / "probe")]), "t,cond,_a")
    assert changed.root != a.root


def test_no_reuse_of_a_superset_of_variations(make_repo: RepoMaker) -> None:
    extra = {
        "t-cached": (
            "alias: t-cached\nuid: '{uid}'\ntags: [t, cached]\ncache: true\nvariations:\n"
            "  small: {{group: size, default: true}}\n  big: {{group: size}}\n"
            "  fp32: {{group: precision, default: true}}\n  int8: {{group: precision}}\n"
        )
    }
    index = make_probe(make_repo, extra)
    big = plan(index, "t,cached,_big")
    big_int8 = plan(index, "t,cached,_big,_int8")
    assert big.node(big.root).variations == ("big", "fp32")
    assert big.root != big_int8.root  # CM would reuse the _big,_int8 entry for _big


def test_adr_reaches_the_whole_subtree_and_ad_only_children(make_repo: RepoMaker) -> None:
    extra = {
        "top": (
            "alias: top\nuid: '{uid}'\ntags: [top]\n"
            "deps: [{{tags: mid, names: [mid]}}]\n"
            "variations:\n  v: {{adr: {{leaf: {{tags: _b}}}}}}\n"
        ),
        "mid": "alias: mid\nuid: '{uid}'\ntags: [mid]\ndeps: [{{tags: 't,cond', names: [leaf]}}]\n",
    }
    index = make_probe(make_repo, extra)
    result = plan(index, "top,_v")
    mid = result.node(result.node(result.root).static_deps[0].key)
    leaf = result.node(mid.static_deps[0].key)
    assert leaf.variations == ("b",)
    assert mid.add_deps_recursive == {"leaf": {"tags": "_b"}}  # received from its caller
    with pytest.raises(PlanError, match="add_deps names nope"):
        plan(index, "top", ad={"nope": {"tags": "_x"}})
    cli_adr = plan(index, "top", adr={"leaf": {"tags": "_a"}})
    mid = cli_adr.node(cli_adr.node(cli_adr.root).static_deps[0].key)
    assert cli_adr.node(mid.static_deps[0].key).variations == ("a",)


def test_tags_from_env_and_inherited_variations(make_repo: RepoMaker) -> None:
    extra = {
        "dl": (
            "alias: dl\nuid: '{uid}'\ntags: [dl]\nenv: {{CM_URL: 'https://x/y.tgz'}}\n"
            "variations: {{fast: {{group: speed, default: true}}, slow: {{group: speed}}, "
            "keep: {{}}}}\n"
            "deps:\n- tags: 'file,get'\n  update_tags_from_env_with_prefix: {{_url.: [CM_URL]}}\n"
            "  inherit_variation_tags: true\n  skip_inherit_variation_groups: [speed]\n"
        ),
        "file": (
            "alias: file\nuid: '{uid}'\ntags: [file, get]\n"
            "variations: {{url.#: {{env: {{CM_FILE_URL: '#'}}}}, keep: {{}}}}\n"
        ),
    }
    index = make_probe(make_repo, extra)
    result = plan(index, "dl,_keep")
    (dep,) = result.node(result.root).static_deps
    assert dep.tags == "file,get,_url.https://x/y.tgz,_keep"
    child = result.node(dep.key)
    assert child.variations == ("url.https://x/y.tgz", "keep")


def test_versions_and_default_version(make_repo: RepoMaker) -> None:
    extra = {
        "tool": (
            "alias: tool\nuid: '{uid}'\ntags: [tool]\ndefault_version: '2.0'\n"
            "versions:\n  '2.0': {{env: {{T_V: two}}}}\n  '3.0': {{env: {{T_V: three}}}}\n"
        )
    }
    index = make_probe(make_repo, extra)
    assert plan(index, "tool").node(plan(index, "tool").root).versions == {"version": "2.0"}
    clamped = plan(index, "tool", version_min="3.0")
    assert clamped.node(clamped.root).versions == {"version": "3.0", "version_min": "3.0"}
    usable = plan(index, "tool", version_max="1.5", version_max_usable="1.4")
    assert usable.node(usable.root).versions["version"] == "1.4"
    with pytest.raises(PlanError, match="impossible version request"):
        plan(index, "tool", version_min="3", version_max="2")


def test_cycles_are_reported_with_the_path(make_repo: RepoMaker) -> None:
    extra = {
        "ping": "alias: ping\nuid: '{uid}'\ntags: [ping]\ndeps: [{{tags: pong}}]\n",
        "pong": "alias: pong\nuid: '{uid}'\ntags: [pong]\ndeps: [{{tags: ping}}]\n",
    }
    with pytest.raises(CycleError) as info:
        plan(make_probe(make_repo, extra), "ping")
    assert info.value.cycle == ("probe:ping()", "probe:pong()", "probe:ping()")


def test_ambiguous_tags_follow_sort_and_are_recorded(make_repo: RepoMaker) -> None:
    extra = {
        "cc-llvm": "alias: cc-llvm\nuid: '{uid}'\ntags: [cc, llvm]\nsort: 100\n",
        "cc-gcc": "alias: cc-gcc\nuid: '{uid}'\ntags: [cc, gcc]\nsort: 500\n",
        "build": (
            "alias: build\nuid: '{uid}'\ntags: [build]\ndeps: [{{tags: cc, names: [compiler]}}]\n"
        ),
    }
    index = make_probe(make_repo, extra)
    result = plan(index, "build")
    chosen = result.node(result.node(result.root).static_deps[0].key)
    assert chosen.alias == "cc-llvm" and chosen.alternatives == ("probe:cc-gcc",)
    overridden = plan(index, "build", adr={"compiler": {"tags": "gcc"}})
    assert overridden.node(overridden.node(overridden.root).static_deps[0].key).alias == "cc-gcc"


def test_plan_json_round_trip(make_repo: RepoMaker) -> None:
    result = plan(make_probe(make_repo), "t,consumer", foo="x")
    again = Plan.from_json(result.to_json())
    assert again.to_json() == result.to_json()
    stats = result.stats()
    assert stats["residual_deps"] == 4 and stats["static_deps"] == 4


def test_update_meta_if_env_and_list_exports(make_repo: RepoMaker) -> None:
    extra = {
        "cond-meta": (
            "alias: cond-meta\nuid: '{uid}'\ntags: [cond-meta]\n"
            "env: {{CM_FLAVOR: linux}}\n"
            "update_meta_if_env:\n"
            "- enable_if_env: {{CM_FLAVOR: [linux]}}\n  env: {{CM_PICKED: linux-branch}}\n"
            "- skip_if_env: {{CM_FLAVOR: [linux]}}\n  env: {{CM_PICKED: other-branch}}\n"
            "- enable_if_env: {{CM_LATER: ['yes']}}\n  env: {{CM_LATE: set}}\n"
            "deps:\n- tags: adds-path\n- tags: adds-path-too\n"
        ),
        "adds-path": (
            "alias: adds-path\nuid: '{uid}'\ntags: [adds-path]\n"
            "env: {{+PATH: [/opt/a/bin]}}\nnew_env_keys: [+PATH]\n"
        ),
        "adds-path-too": (
            "alias: adds-path-too\nuid: '{uid}'\ntags: [adds-path-too]\n"
            "env: {{+PATH: [/opt/b/bin, /opt/a/bin]}}\nnew_env_keys: [+PATH]\n"
        ),
    }
    index = make_probe(make_repo, extra)
    result = plan(index, "cond-meta")
    root = result.node(result.root)
    assert root.resolved_env["CM_PICKED"] == "linux-branch"
    assert "CM_LATE" not in root.resolved_env
    late = plan(index, "cond-meta", env={"CM_LATER": "yes"})
    assert late.node(late.root).resolved_env["CM_LATE"] == "set"
    # exports of list keys are appended, not replaced (CM's merge_dicts with append_unique)
    second = result.node(root.static_deps[1].key)
    assert second.env["+PATH"] == ("/opt/a/bin",)
