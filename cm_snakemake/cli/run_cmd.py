"""``run``: run a script and its dependencies, then print what it exports."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..errors import EXIT_OK, UsageError
from ..runtime.simple import SimpleRunner
from ..search import select_script
from .main import Command, Context
from .script_cmd import open_index, request_from

if TYPE_CHECKING:
    from .grammar import Args

__all__ = ["RUN"]


def _run(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    if not artifact and not str(query):
        raise UsageError("run needs a script", hint='Example: cm-snakemake run "detect os"')
    as_json = args.take_bool("json")
    args.take_bool("quiet")  # CM compatibility: we never prompt
    env = args.take("env", {})
    if not isinstance(env, dict):
        raise UsageError("--env needs a key: --env.KEY=VALUE")
    index = open_index(ctx)
    entry = select_script(index, query, artifact=artifact, reporter=ctx.reporter)
    args.check_consumed(index.meta(entry).input_mapping)
    inputs = {k: v for k, v in args.flags.items() if k not in {"json", "quiet", "tags"}}
    result = SimpleRunner(index, reporter=ctx.reporter).run(entry, query, inputs)
    if as_json:
        payload = {"script": result.script, "new_env": result.new_env, "deps": result.deps}
        print(json.dumps(payload, indent=1), file=ctx.out)
    else:
        for key in sorted(result.new_env):
            print(f"{key}={result.new_env[key]}", file=ctx.out)
    return EXIT_OK


RUN = Command(
    _run,
    """usage: cm-snakemake run [script] ALIAS | "TAGS" [--env.KEY=VALUE ...] [--json]

Run the script that matches the request, after its dependencies, and print the env keys it
exports (its new_env_keys) as KEY=VALUE lines. When several scripts match, the first in
CM's order (meta 'sort', then path) runs and the others are named on standard error.

  "TAGS"           e.g. "detect os" or "detect,cpu"
  --env.KEY=VALUE  set an env value for the script and its dependencies
  --NAME=VALUE     an input the script maps to env through its input_mapping
  --json           print the result as JSON
  --quiet          accepted for CM compatibility (cm-snakemake never prompts)

This version runs scripts without variations, customize.py hooks, version constraints or
conditional dependencies, such as the bundled detect-os and detect-cpu.""",
)
