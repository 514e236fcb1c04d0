"""``run``: plan and run a script with its dependencies, then print what it exports."""

from __future__ import annotations

import json
import os

from .._util.secretenv import HIDDEN, conceal, given, strip
from ..errors import EXIT_OK, EXIT_USER_ERROR, UsageError
from .main import Command, Context
from .script_cmd import open_index, request_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..index.repos import Registry
    from ..meta.tags import TagQuery
    from ..runtime.runner import Runtime
    from .grammar import Args

__all__ = ["RUN"]

_OWN_FLAGS = {"json", "quiet", "tags", "new", "renew", "dry_run", "facts", "no_facts",
              "cache_dir", "jobs", "profile"}  # fmt: skip
_ENGINE_INPUTS = {"env", "const", "adr", "add_deps_recursive", "ad", "add_deps", "version",
                  "version_min", "version_max", "version_max_usable", "skip_cache",
                  "force_cache", "path", "input", "output", "name", "extra_cache_tags",
                  "force_new_env_keys", "outdirname", "outbasename"}  # fmt: skip


def _print(ctx: Context, payload: dict[str, Any], as_json: bool) -> None:
    payload = strip(payload)
    if as_json:
        print(json.dumps(payload, indent=1, default=str), file=ctx.out)
        return
    new_env = {**payload["new_env"], **dict.fromkeys(payload.get("secret_keys", []), HIDDEN)}
    for key in sorted(new_env):
        value = new_env[key]
        text = ":".join(value) if isinstance(value, list) else value
        print(f"{key}={text}", file=ctx.out)


def _remembered_hit(
    ctx: Context, args: Args, registry: Registry, request_id: str, cache_dir: str | None
) -> dict[str, Any] | None:
    """A cached result for a request resolved before, without planning it again."""
    from ..cache.store import CacheStore
    from ..plan.remembered import resolve

    found = resolve(registry.index_dir, request_id, registry.repositories())
    if found is None:
        return None
    entry = CacheStore(cache_dir).lookup(found.alias, found.key)
    if entry is None:
        return None
    args.check_consumed(found.accepted)
    return {"key": found.key, **entry.result, "from_cache": True, "path": entry.path}


def _accepted(index: Any, query: TagQuery, artifact: str | None, ctx: Context) -> set[str]:
    from ..index.search import select_script

    meta = index.meta(select_script(index, query, artifact=artifact, reporter=ctx.reporter))
    accepted = set(meta.input_mapping) | _ENGINE_INPUTS
    for var in meta.variations.values():
        accepted |= set(var.input_mapping)
    return accepted


def _remember(runtime: Runtime, registry: Registry, request_id: str, root_key: str,
              accepted: set[str]) -> None:  # fmt: skip
    from ..plan.remembered import Remembered, remember

    nodes = list(runtime.planner.nodes.values())
    root = runtime.planner.nodes.get(root_key)
    if root is None or not root.cached or any(n.alternatives for n in nodes):
        return
    found = Remembered(root.key, root.alias, tuple(sorted(accepted)))
    remember(registry.index_dir, request_id, found, [n.path for n in nodes],
             registry.repositories())  # fmt: skip


def _run(args: Args, ctx: Context) -> int:
    from ..index.repos import Registry
    from ..plan.remembered import request_key

    query, artifact = request_from(args)
    if not artifact and not str(query):
        raise UsageError("run needs a script", hint='Example: cm-snakemake run "detect os"')
    as_json = args.take_bool("json")
    args.take_bool("quiet")  # CM compatibility: we never prompt
    new = args.take_bool("new") or args.take_bool("renew")
    dry_run = args.take_bool("dry_run")
    facts_file = args.take_str("facts")
    no_facts = args.take_bool("no_facts")
    cache_dir = args.take_str("cache_dir")
    env = args.take("env", {})
    if not isinstance(env, dict):
        raise UsageError("--env needs a key: --env.KEY=VALUE")
    inputs = {k: v for k, v in args.flags.items() if k not in _OWN_FLAGS}
    jobs = args.take_str("jobs")
    profile = args.take_str("profile")
    if jobs or profile:
        return _through_snakemake(args, ctx, query, artifact, inputs, jobs, profile)
    registry = Registry()
    if not no_facts and not facts_file:
        from ..runtime.facts import host_facts_path

        default = host_facts_path()
        facts_path: str | None = default if os.path.isfile(default) else None
    else:
        facts_path = None if no_facts else facts_file
    request_id = request_key(str(query), artifact, inputs, facts_path)
    if not new and not dry_run and (no_facts or facts_path):
        hit = _remembered_hit(ctx, args, registry, request_id, cache_dir)
        if hit is not None:
            _print(ctx, hit, as_json)
            return EXIT_OK
    return _plan_and_run(args, ctx, query, artifact, inputs, registry, request_id)


def _through_snakemake(
    args: Args, ctx: Context, query: TagQuery, artifact: str | None, inputs: dict[str, Any],
    jobs: str | None, profile: str | None,
) -> int:  # fmt: skip
    """Compile the request and run it with one Snakemake process (parallel, or on a cluster)."""
    import subprocess
    import sys

    from ..compile.workflow import CMWorkflow
    from ..errors import ScriptFailed

    index = open_index(ctx)
    args.check_consumed(_accepted(index, query, artifact, ctx))
    if args.flags.get("new"):
        raise UsageError("with --jobs or --profile, rebuild with snakemake's --forcerun")
    dry_run = bool(args.flags.get("dry_run"))
    workflow = CMWorkflow()
    request = artifact or " ".join(str(query).split(","))
    run_dir = os.path.join(workflow.workdir, "run")
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "request.json"), "w", encoding="utf-8") as fh:
        json.dump({"request": request, "inputs": conceal(inputs)}, fh)  # secrets: via env
    snakefile = os.path.join(run_dir, "Snakefile")
    with open(snakefile, "w", encoding="utf-8") as fh:
        fh.write(_SNAKEFILE.format(request_file=os.path.join(run_dir, "request.json")))
    command = [sys.executable, "-m", "snakemake", "-s", snakefile, "--rerun-incomplete"]
    command += ["--cores", jobs or "all"] if not profile else ["--profile", profile]
    if profile and jobs:
        command += ["--jobs", jobs]
    if dry_run:
        command.append("-n")
    secrets = given(inputs)  # the jobs read them from their environment
    done = subprocess.run([*command, "cm_request"], check=False, env={**os.environ, **secrets})
    if dry_run:
        return EXIT_OK if done.returncode == 0 else EXIT_USER_ERROR
    if done.returncode != 0:
        raise ScriptFailed(request, "the Snakemake run", "a job failed (see its log above)",
                           returncode=done.returncode)  # fmt: skip
    target = workflow.target(request, **inputs)  # compiled by the run: a file read here
    with open(target, encoding="utf-8") as fh:
        result = json.load(fh)
    _print(ctx, result, bool(args.flags.get("json")))
    return EXIT_OK


_SNAKEFILE = """# Written by cm-snakemake run --jobs/--profile for one request.
import json
from cm_snakemake.compile.workflow import cm

from cm_snakemake._util.secretenv import reveal
_REQUEST = reveal(json.load(open({request_file!r})))

rule cm_request:
    input: cm.target(_REQUEST["request"], **_REQUEST["inputs"])

include: cm.rules()
"""


def _plan_and_run(
    args: Args, ctx: Context, query: TagQuery, artifact: str | None, inputs: dict[str, Any],
    registry: Registry, request_id: str,
) -> int:  # fmt: skip
    from ..runtime.facts import host_facts, load_facts

    index = open_index(ctx)
    accepted = _accepted(index, query, artifact, ctx)
    args.check_consumed(accepted)
    facts_file = args.flags.get("facts")
    if args.flags.get("no_facts"):
        facts = None
    else:
        facts = load_facts(str(facts_file)) if facts_file else host_facts(index, ctx.reporter)
    scripts = (facts or {}).get("scripts")
    if args.flags.get("dry_run"):
        from ..plan.planner import Planner
        from ..plan.provider import IndexProvider
        from .plan_cmd import render_plan

        plan = Planner(IndexProvider(index), facts=scripts).plan(query, inputs, artifact=artifact)
        print(render_plan(plan), file=ctx.out)
        return EXIT_OK
    from ..cache.store import CacheStore
    from ..runtime.runner import Runtime

    new = bool(args.flags.get("new") or args.flags.get("renew"))
    cache = CacheStore(args.flags.get("cache_dir"))
    runtime = Runtime(index, cache=cache, facts=scripts, reporter=ctx.reporter, new=new)
    result = runtime.run(query, inputs, artifact=artifact)
    index.flush()
    if not args.flags.get("facts") or facts is not None:
        _remember(runtime, registry, request_id, result.key, accepted)
    _print(ctx, result.to_json(), bool(args.flags.get("json")))
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
  --new, --renew   rebuild the requested script's cache entry instead of reusing it
                   (its dependencies still come from the cache)
  --dry-run        print the plan instead of running it
  --jobs=N         run through Snakemake with N jobs at once (one Snakemake process)
  --profile=DIR    run through Snakemake with this profile (e.g. profiles/slurm)
  --facts=FILE     host facts to plan with (default: this machine's, kept in $CMSM_HOME)
  --no-facts       plan without host facts
  --cache-dir=DIR  another cache root
  --json           print the result as JSON
  --quiet          accepted for CM compatibility (cm-snakemake never prompts)""",
)
