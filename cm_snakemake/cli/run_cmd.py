"""``run``: plan and run a script with its dependencies, then print what it exports."""

from __future__ import annotations

import json

from ..errors import EXIT_OK, UsageError
from ..facts import collect_facts, load_facts
from ..search import select_script
from .main import Command, Context
from .script_cmd import open_index, request_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .grammar import Args

__all__ = ["RUN"]

_OWN_FLAGS = {"json", "quiet", "tags", "new", "dry_run", "facts", "no_facts", "cache_dir"}
_ENGINE_INPUTS = {"env", "const", "adr", "add_deps_recursive", "ad", "add_deps", "version",
                  "version_min", "version_max", "version_max_usable", "skip_cache",
                  "force_cache", "path", "input", "output", "name", "extra_cache_tags",
                  "force_new_env_keys", "outdirname", "outbasename"}  # fmt: skip


def _run(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    if not artifact and not str(query):
        raise UsageError("run needs a script", hint='Example: cm-snakemake run "detect os"')
    as_json = args.take_bool("json")
    args.take_bool("quiet")  # CM compatibility: we never prompt
    new = args.take_bool("new")
    dry_run = args.take_bool("dry_run")
    facts_file = args.take_str("facts")
    no_facts = args.take_bool("no_facts")
    cache_dir = args.take_str("cache_dir")
    env = args.take("env", {})
    if not isinstance(env, dict):
        raise UsageError("--env needs a key: --env.KEY=VALUE")
    index = open_index(ctx)
    meta = index.meta(select_script(index, query, artifact=artifact, reporter=ctx.reporter))
    accepted = set(meta.input_mapping) | _ENGINE_INPUTS
    for var in meta.variations.values():
        accepted |= set(var.input_mapping)
    args.check_consumed(accepted)
    inputs = {k: v for k, v in args.flags.items() if k not in _OWN_FLAGS}
    facts = None if no_facts else (load_facts(facts_file) if facts_file
                                   else collect_facts(index, ctx.reporter))  # fmt: skip
    scripts = (facts or {}).get("scripts")
    if dry_run:
        from ..planner import Planner
        from ..provider import IndexProvider
        from .plan_cmd import render_plan

        plan = Planner(IndexProvider(index), facts=scripts).plan(query, inputs, artifact=artifact)
        print(render_plan(plan), file=ctx.out)
        return EXIT_OK
    from ..cache import CacheStore
    from ..runtime.runner import Runtime

    runtime = Runtime(index, cache=CacheStore(cache_dir), facts=scripts, reporter=ctx.reporter,
                      new=new)  # fmt: skip
    result = runtime.run(query, inputs, artifact=artifact)
    index.flush()
    if as_json:
        print(json.dumps(result.to_json(), indent=1, default=str), file=ctx.out)
    else:
        for key in sorted(result.new_env):
            value = result.new_env[key]
            text = ":".join(value) if isinstance(value, list) else value
            print(f"{key}={text}", file=ctx.out)
    return EXIT_OK


RUN = Command(
    _run,
    """usage: cm-snakemake run [script] ALIAS | "TAGS" [--env.KEY=VALUE ...] [--NAME=VALUE ...]
                        [--version=V] [--adr.NAME.KEY=V] [--new] [--dry-run] [--json]

Run the script that matches the request, with its dependencies, in CM's order and with CM's
semantics (customize.py hooks, native scripts, conditions decided on the live env), and
print the env keys it exports (its new_env_keys) as KEY=VALUE lines. Cached scripts are
stored in the cache store ($CMSM_HOME/cache, or $CMSM_CACHE) and reused by key.

  "TAGS"           e.g. "detect os" or "get python3 _shared"
  --env.KEY=VALUE  set an env value for the script and its dependencies
  --NAME=VALUE     an input the script maps to env through its input_mapping
  --version*=V     version constraints, as with CM
  --new            rebuild cached entries instead of reusing them
  --dry-run        print the plan instead of running it
  --facts=FILE     host facts to plan with (default: collected here)
  --json           print the result as JSON
  --quiet          accepted for CM compatibility (cm-snakemake never prompts)""",
)
