"""``job``: run one planned node (the body of every Snakemake job)."""

from __future__ import annotations

from ..errors import EXIT_OK, UsageError
from .options import NUMBER, PATH, TEXT, Command, Flag, Options
from .script_cmd import open_index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["JOB", "JobOptions"]


class JobOptions(Options):
    """The flags of ``job``."""

    plan = Flag(PATH, None, "the compiled plan (a .cmsm/nodes/<key>.json file)", metavar="FILE")
    key = Flag(TEXT, None, "the node to run", metavar="KEY")
    results = Flag(PATH, None, "where the results of nodes that are not cached go", metavar="DIR")
    cache_dir = Flag(PATH, None, "another cache root", metavar="DIR")
    timeout = Flag(
        NUMBER,
        None,
        "stop a native script that runs longer (0: the resources.timeout of its meta, if any)",
        metavar="MINUTES",
    )


def _job(options: JobOptions, ctx: Context) -> int:
    import json
    import os

    from .._util.settings import settings
    from ..cache.store import CacheStore
    from ..plan.model import Plan
    from ..runtime.runner import Runtime

    plan_file = options.plan
    key = options.key
    if not plan_file or not key:
        raise UsageError("job needs --plan=FILE and --key=KEY", hint=JOB.usage)
    try:
        with open(plan_file, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise UsageError(
            f"cannot read the compiled node {plan_file}: {exc.strerror or exc}",
            hint="The workflow's .cmsm folder moved or was removed; run Snakemake again "
            "so that it compiles its targets afresh.",
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"the compiled node {plan_file} is not valid JSON ({exc})",
            hint="Remove it and run Snakemake again.",
        ) from None
    plan = Plan.from_json(data)
    callers = [str(k) for k in data.get("callers", [])]
    if key not in plan.nodes:
        raise UsageError(f"node {key} is not in the plan {plan_file}")
    runtime = Runtime(
        open_index(ctx),
        cache=CacheStore(options.cache_dir),
        facts={k: dict(v) for k, v in plan.facts.items()},
        reporter=ctx.reporter,
        results_dir=options.results,
    )
    if options.timeout is not None:
        runtime.timeout_minutes = options.timeout or None
    jobs = settings.nested_jobs or 0  # opt-in: docs/architecture.md, rule 4
    if jobs > 1 and options.results:
        from ..runtime.subflow import Subflows

        folder = os.path.join(os.path.dirname(os.path.abspath(options.results)), "sub")
        runtime.subflows = Subflows(runtime, folder, jobs)
    root_state = data.get("root_state") or {}
    result = runtime.run_planned(plan, key, callers, dict(root_state))
    node = plan.node(key)
    state = "reused" if result.from_cache else "done"
    print(f"{node.script} {','.join(node.variations)} [{key[:12]}]: {state}", file=ctx.out)
    return EXIT_OK


JOB = Command(
    "job", _job, JobOptions,
    about="""Run one node of a compiled plan, as a Snakemake job does: its static dependencies'
results must exist (Snakemake runs their jobs first); its run-time dependencies are decided
and run here. A cached node's result is its cache entry; any other node's result is written to
DIR/<alias>/<key>.json.""",
)  # fmt: skip
