"""``plan`` and ``facts``: show what a request resolves to, and record host facts."""

from __future__ import annotations

import json
from dataclasses import asdict

from .._util.secretenv import given
from ..errors import EXIT_OK, UsageError
from ..plan.model import Plan, PlanNode, StaticDep
from ..plan.network import NetworkNeed, network_needs
from ..plan.planner import Planner
from ..plan.provider import IndexProvider
from ..runtime.facts import collect_facts, host_facts, load_facts, save_facts
from .options import BOOL, PATH, Command, Flag, Options
from .run_cmd import accepted_inputs, report_choice
from .script_cmd import INPUT_ARGUMENTS, REQUEST_ARGUMENTS, InputOptions, open_index, request_from
from .streams import json_stdout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..meta.tags import TagQuery
    from .main import Context

__all__ = ["FACTS", "PLAN", "FactsOptions", "PlanOptions", "render_plan"]


class PlanOptions(InputOptions):
    """The flags of ``plan``; any other flag is an input of the script."""

    json = Flag(BOOL, False, "print the plan as JSON")
    network = Flag(BOOL, False, "list what the plan fetches from the network (downloads, git "
                   "clones, pip installs) instead of the tree; with --json: as "
                   "'network'")  # fmt: skip
    out = Flag(PATH, None, "also write the JSON plan to FILE", metavar="FILE")


class FactsOptions(Options):
    """The flags of ``facts``."""

    out = Flag(PATH, None, "write the facts to FILE instead of printing them", metavar="FILE")
    refresh = Flag(
        BOOL,
        False,
        "also replace the facts kept for this machine in "
        "$CMSM_HOME/facts, which plan and run use when no --facts file is "
        "given",
    )


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
                where = " (in its caller's job)" if dep.inline else ""
                walk(dep.key, branch, f"{dep.list} '{dep.tags}'{where} → ")
            else:
                lines.append(f"{branch}{dep.list} '{dep.tags}' → decided at run time: {dep.reason}")

    walk(plan.root, "", "")
    stats = plan.stats()
    lines.append(
        f"{stats['nodes']} nodes ({stats['cached_nodes']} cached), {stats['static_deps']} static "
        f"and {stats['residual_deps']} run-time dependencies: "
        f"{float(stats['static_share']) * 100:.1f}% decided at plan time; "
        f"{stats['jobs']} Snakemake jobs; static dependencies run inside their caller's job: "
        f"{stats['in_parent_job_deps']}"
    )
    return "\n".join(lines)


def _facts(options: PlanOptions, ctx: Context, provider: IndexProvider) -> dict[str, Any] | None:
    if options.no_facts:
        return None
    if options.facts:
        return load_facts(options.facts)
    return host_facts(provider.index, ctx.reporter)


def _plan(options: PlanOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    if not str(query) and not artifact:
        raise UsageError("plan needs a request", hint='Example: cm-snakemake plan "get python3"')
    if not options.json:
        return _planned(options, ctx, query, artifact)
    with json_stdout(ctx) as result_ctx:  # collecting host facts runs scripts
        return _planned(options, result_ctx, query, artifact)


def _planned(options: PlanOptions, ctx: Context, query: TagQuery, artifact: str | None) -> int:
    as_json = options.json
    out = options.out
    index = open_index(ctx)
    provider = IndexProvider(index)
    facts = _facts(options, ctx, provider)
    inputs = options.inputs
    planner = Planner(provider, facts=(facts or {}).get("scripts"), reporter=ctx.reporter)
    given(inputs)  # secrets the user gave: concealed in the plan's JSON
    plan, start = planner.plan_request(query, inputs, artifact=artifact)
    options.check_inputs(accepted_inputs(start))
    report_choice(ctx, query, artifact, plan.node(plan.root))
    index.flush()
    needs = network_needs(plan) if options.network else None
    if out or as_json:
        payload = plan.to_json()
        if facts:
            payload["facts_meta"] = {k: v for k, v in facts.items() if k != "scripts"}
        if needs is not None:
            payload["network"] = [asdict(n) for n in needs]
        if out:
            with open(out, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1)
        if as_json:
            print(json.dumps(payload, indent=1), file=ctx.out)
    if not as_json:
        print(render_plan(plan) if needs is None else render_network(needs), file=ctx.out)
    return EXIT_OK


def render_network(needs: list[NetworkNeed]) -> str:
    """One line per network need, then a count."""
    if not needs:
        return "nothing in this plan needs the network"
    maybe = sum(not n.known for n in needs)
    lines = [n.line() for n in needs]
    lines.append(f"{len(needs)} network needs ({maybe} decided at run time)")
    return "\n".join(lines)


def _facts_cmd(options: FactsOptions, ctx: Context) -> int:
    if options.out:
        return _collected(options, ctx)
    with json_stdout(ctx) as result_ctx:  # the detection scripts run meanwhile
        return _collected(options, result_ctx)


def _collected(options: FactsOptions, ctx: Context) -> int:
    out = options.out
    refresh = options.refresh
    index = open_index(ctx)
    facts = host_facts(index, ctx.reporter, refresh=True) if refresh else collect_facts(index)
    if out:
        save_facts(facts, out)
        print(f"wrote host facts of {facts['host']} to {out}", file=ctx.out)
    else:
        print(json.dumps(facts, indent=1, sort_keys=True), file=ctx.out)
    return EXIT_OK


PLAN = Command(
    "plan", _plan, PlanOptions,
    synopsis='"TAGS" [--NAME=VALUE ...] [--env.KEY=V] [--adr.NAME.KEY=V]',
    about="""Resolve a request the way CM would run it, without running anything, and print the
tree: each script with its full variation list, versions and whether it is cached; each
dependency decided at plan time, or left for run time with the reason.

Host facts (what detect-os and detect-cpu export) are this machine's (collected once, kept in
$CMSM_HOME/facts) unless --facts gives a file written by 'cm-snakemake facts' on the target
machine, or --no-facts plans without them.""",
    arguments=(*REQUEST_ARGUMENTS, *INPUT_ARGUMENTS),
)  # fmt: skip

FACTS = Command(
    "facts", _facts_cmd, FactsOptions,
    about="""Run the bundled detect-os and detect-cpu here and print (or write) the host facts
that 'cm-snakemake plan --facts=FILE' uses to plan for this kind of machine.""",
)  # fmt: skip
