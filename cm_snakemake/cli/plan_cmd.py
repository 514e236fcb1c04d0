"""``plan`` and ``facts``: show what a request resolves to, and record host facts."""

from __future__ import annotations

import json

from .._util.secretenv import given
from ..errors import EXIT_OK, UsageError
from ..index.search import select_script
from ..plan.model import Plan, PlanNode, StaticDep
from ..plan.planner import Planner
from ..plan.provider import IndexProvider
from ..runtime.facts import collect_facts, host_facts, load_facts, save_facts
from .main import Command, Context
from .script_cmd import open_index, request_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .grammar import Args

__all__ = ["FACTS", "PLAN", "render_plan"]

_OWN_FLAGS = {"json", "out", "facts", "no_facts", "tags", "quiet"}
_ENGINE_INPUTS = {"env", "const", "adr", "add_deps_recursive", "ad", "add_deps", "version",
                  "version_min", "version_max", "version_max_usable", "skip_cache",
                  "force_cache", "path", "input", "output", "name", "extra_cache_tags",
                  "force_new_env_keys"}  # fmt: skip


def _node_line(node: PlanNode) -> str:
    parts = [node.alias]
    if node.variations:
        parts.append(",".join(f"_{v}" for v in node.variations))
    if node.versions:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(node.versions.items())))
    parts.append("cached" if node.cached else "not cached")
    if node.facts:
        parts.append("from host facts")
    if node.alternatives:
        parts.append(f"chosen over {', '.join(node.alternatives)}")
    return "  ".join(parts) + f"  [{node.key[:12]}]"


def render_plan(plan: Plan) -> str:
    """The plan as a tree in CM terms; repeated subtrees are printed once."""
    lines: list[str] = []
    shown: set[str] = set()

    def walk(key: str, prefix: str, label: str) -> None:
        node = plan.node(key)
        seen = key in shown
        lines.append(f"{prefix}{label}{_node_line(node)}" + ("  (as above)" if seen else ""))
        if seen:
            return
        shown.add(key)
        for i, dep in enumerate(node.deps):
            last = i == len(node.deps) - 1
            branch = prefix.replace("├─", "│ ").replace("└─", "  ") + ("└─ " if last else "├─ ")
            if isinstance(dep, StaticDep):
                walk(dep.key, branch, f"{dep.list} '{dep.tags}' → ")
            else:
                lines.append(f"{branch}{dep.list} '{dep.tags}' → decided at run time: {dep.reason}")

    walk(plan.root, "", "")
    stats = plan.stats()
    lines.append(
        f"{stats['nodes']} nodes ({stats['cached_nodes']} cached), {stats['static_deps']} static "
        f"and {stats['residual_deps']} run-time dependencies: "
        f"{float(stats['static_share']) * 100:.1f}% decided at plan time"
    )
    return "\n".join(lines)


def _facts(args: Args, ctx: Context, provider: IndexProvider) -> dict[str, Any] | None:
    path = args.take_str("facts")
    if args.take_bool("no_facts"):
        return None
    if path:
        return load_facts(path)
    return host_facts(provider.index, ctx.reporter)


def _plan(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    if not str(query) and not artifact:
        raise UsageError("plan needs a request", hint='Example: cm-snakemake plan "get python3"')
    as_json = args.take_bool("json")
    out = args.take_str("out")
    args.take_bool("quiet")
    index = open_index(ctx)
    provider = IndexProvider(index)
    facts = _facts(args, ctx, provider)
    meta = index.meta(select_script(index, query, artifact=artifact, reporter=ctx.reporter))
    accepted = set(meta.input_mapping) | _ENGINE_INPUTS
    for var in meta.variations.values():
        accepted |= set(var.input_mapping)
    args.check_consumed(accepted)
    inputs = {k: v for k, v in args.flags.items() if k not in _OWN_FLAGS}
    planner = Planner(provider, facts=(facts or {}).get("scripts"), reporter=ctx.reporter)
    given(inputs)  # secrets the user gave: concealed in the plan's JSON
    plan = planner.plan(query, inputs, artifact=artifact)
    index.flush()
    if out or as_json:
        payload = plan.to_json()
        if facts:
            payload["facts_meta"] = {k: v for k, v in facts.items() if k != "scripts"}
        if out:
            with open(out, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1)
        if as_json:
            print(json.dumps(payload, indent=1), file=ctx.out)
    if not as_json:
        print(render_plan(plan), file=ctx.out)
    return EXIT_OK


def _facts_cmd(args: Args, ctx: Context) -> int:
    out = args.take_str("out")
    refresh = args.take_bool("refresh")
    args.check_consumed()
    index = open_index(ctx)
    facts = host_facts(index, ctx.reporter, refresh=True) if refresh else collect_facts(index)
    if out:
        save_facts(facts, out)
        print(f"wrote host facts of {facts['host']} to {out}", file=ctx.out)
    else:
        print(json.dumps(facts, indent=1, sort_keys=True), file=ctx.out)
    return EXIT_OK


PLAN = Command(
    _plan,
    """usage: cm-snakemake plan "TAGS" [--NAME=VALUE ...] [--env.KEY=V] [--adr.NAME.KEY=V]
                         [--facts=FILE | --no-facts] [--json] [--out=FILE]

Resolve a request the way CM would run it, without running anything, and print the tree:
each script with its full variation list, versions and whether it is cached; each
dependency decided at plan time, or left for run time with the reason.

Host facts (what detect-os and detect-cpu export) are this machine's (collected once, kept in
$CMSM_HOME/facts) unless --facts gives a file written by 'cm-snakemake facts' on the target
machine, or --no-facts plans without them.

  --json           print the plan as JSON
  --out=FILE       also write the JSON plan to FILE
  --version*, --env.*, --const.*, --adr.*, --ad.* and the script's inputs as with CM""",
)

FACTS = Command(
    _facts_cmd,
    """usage: cm-snakemake facts [--out=FILE] [--refresh]

Run the bundled detect-os and detect-cpu here and print (or write) the host facts that
'cm-snakemake plan --facts=FILE' uses to plan for this kind of machine.

  --refresh        also replace the facts kept for this machine in $CMSM_HOME/facts,
                   which plan and run use when no --facts file is given""",
)
