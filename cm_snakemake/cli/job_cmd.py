"""``job``: run one planned node (the body of every Snakemake job)."""

from __future__ import annotations

from ..errors import EXIT_OK, UsageError
from .main import Command, Context
from .script_cmd import open_index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .grammar import Args

__all__ = ["JOB"]


def _job(args: Args, ctx: Context) -> int:
    import json

    from ..cache.store import CacheStore
    from ..plan.model import Plan
    from ..runtime.runner import Runtime

    plan_file = args.take_str("plan")
    key = args.take_str("key")
    results = args.take_str("results")
    cache_dir = args.take_str("cache_dir")
    timeout = args.take_str("timeout")
    args.check_consumed()
    if not plan_file or not key:
        raise UsageError("job needs --plan=FILE and --key=KEY", hint=JOB.usage)
    with open(plan_file, encoding="utf-8") as fh:
        plan = Plan.from_json(json.load(fh))
    if key not in plan.nodes:
        raise UsageError(f"node {key} is not in the plan {plan_file}")
    runtime = Runtime(open_index(ctx), cache=CacheStore(cache_dir), reporter=ctx.reporter,
                      results_dir=results)  # fmt: skip
    if timeout:
        try:
            runtime.timeout_minutes = float(timeout) or None
        except ValueError:
            raise UsageError(f"--timeout expects minutes, not '{timeout}'") from None
    result = runtime.run_planned(plan, key)
    node = plan.node(key)
    state = "reused" if result.from_cache else "done"
    print(f"{node.script} {','.join(node.variations)} [{key[:12]}]: {state}", file=ctx.out)
    return EXIT_OK


JOB = Command(
    _job,
    """usage: cm-snakemake job --plan=FILE --key=KEY [--results=DIR] [--cache-dir=DIR]
                        [--timeout=MIN]

Run one node of a compiled plan, as a Snakemake job does: its static dependencies' results
must exist (Snakemake runs their jobs first); its run-time dependencies are decided and run
here. A cached node's result is its cache entry; any other node's result is written to
DIR/<alias>/<key>.json. --timeout stops a native script that runs longer (0: the
resources.timeout of its meta, if any).""",
)
