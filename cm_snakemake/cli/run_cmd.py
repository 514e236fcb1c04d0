"""``run``: plan and run a script with its dependencies, then print what it exports."""

from __future__ import annotations

import contextlib
import json
import os

from .._util.secretenv import HIDDEN, conceal, given, strip
from .._util.settings import settings
from ..errors import EXIT_OK, EXIT_USER_ERROR, CMSnakemakeError, UsageError
from ..plan.inputs import ENGINE_INPUTS
from .options import BOOL, PATH, WHOLE, Command, Flag
from .script_cmd import INPUT_ARGUMENTS, REQUEST_ARGUMENTS, InputOptions, open_index, request_from
from .streams import json_stdout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..index.repos import Registry
    from ..meta.tags import TagQuery
    from ..plan.model import PlanNode
    from ..plan.prepare import Start
    from ..runtime.runner import Runtime
    from .main import Context

__all__ = ["RUN", "RunOptions", "accepted_inputs", "report_choice"]


class RunOptions(InputOptions):
    """The flags of ``run``; any other flag is an input of the script."""

    json = Flag(
        BOOL,
        False,
        "print the result as JSON (and nothing else on standard output: "
        "what scripts print goes to standard error)",
    )
    new = Flag(
        BOOL,
        False,
        "rebuild the requested script's cache entry instead of reusing it "
        "(its dependencies still come from the cache)",
        aliases=("renew",),
    )
    dry_run = Flag(BOOL, False, "print the plan instead of running it")
    jobs = Flag(WHOLE, None, "run through Snakemake with N jobs at once (one Snakemake process)")
    profile = Flag(
        PATH, None, "run through Snakemake with this profile (e.g. profiles/slurm)", metavar="DIR"
    )
    cache_dir = Flag(PATH, None, "another cache root", metavar="DIR")
    offline = Flag(PATH, None, "run without network: every download, git clone and pip "
                   "install comes from this prefetch bundle (cm-snakemake prefetch); a need "
                   "it lacks stops the run before any work (also: CMSM_OFFLINE)",
                   metavar="BUNDLE")  # fmt: skip


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
    ctx: Context, options: RunOptions, registry: Registry, request_id: str
) -> dict[str, Any] | None:
    """A cached result for a request resolved before, without planning it again."""
    from ..cache.store import CacheStore
    from ..plan.remembered import resolve

    found = resolve(registry.index_dir, request_id, registry.repositories())
    if found is None:
        return None
    entry = CacheStore(options.cache_dir).lookup(found.alias, found.key)
    if entry is None:
        return None
    if entry.expired():
        return None  # past its cache_expiration: the runtime rebuilds it
    options.check_inputs(found.accepted)
    return {"key": found.key, **entry.result, "from_cache": True, "path": entry.path}


def accepted_inputs(start: Start) -> frozenset[str]:
    """The inputs the script a request selected accepts: its input mapping (its variations'
    included) and the engine's inputs (:data:`~cm_snakemake.plan.inputs.ENGINE_INPUTS`)."""
    return start.accepted_inputs() | ENGINE_INPUTS


def report_choice(ctx: Context, query: TagQuery, artifact: str | None, node: PlanNode) -> None:
    """Several scripts matched the request: say which one CM's order took."""
    if node.alternatives:
        from ..index.search import describe_request

        ctx.reporter.script_chosen(
            describe_request(query, artifact), node.script, list(node.alternatives)
        )


def _remember(
    runtime: Runtime, registry: Registry, request_id: str, root_key: str, accepted: frozenset[str]
) -> None:
    from ..plan.remembered import Remembered, remember

    nodes = list(runtime.planner.nodes.values())
    root = runtime.planner.nodes.get(root_key)
    if root is None or not root.cached or any(n.alternatives for n in nodes):
        return
    found = Remembered(root.key, root.alias, tuple(sorted(accepted)))
    remember(
        registry.index_dir, request_id, found, [n.path for n in nodes], registry.repositories()
    )


def _run(options: RunOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    if not artifact and not str(query):
        raise UsageError("run needs a script", hint='Example: cm-snakemake run "detect os"')
    if options.jobs is not None and options.jobs < 1:
        raise UsageError(f"--jobs expects at least 1 job at once, not {options.jobs}")
    if options.offline:  # for this process and the Snakemake jobs it starts
        settings.put("offline", os.path.abspath(str(options.offline)))
    if not options.json:
        return _request(options, ctx, query, artifact)
    with json_stdout(ctx) as result_ctx:  # scripts print to standard error meanwhile
        return _request(options, result_ctx, query, artifact)


def _request(options: RunOptions, ctx: Context, query: TagQuery, artifact: str | None) -> int:
    """Serve the request from what a former run remembered, or plan and run it."""
    from ..index.repos import Registry
    from ..plan.remembered import request_key

    if options.jobs is not None or options.profile:
        return _through_snakemake(options, ctx, query, artifact)
    inputs = options.inputs
    registry = Registry()
    if not options.no_facts and not options.facts:
        from ..runtime.facts import host_facts_path

        default = host_facts_path()
        facts_path: str | None = default if os.path.isfile(default) else None
    else:
        facts_path = None if options.no_facts else options.facts
    request_id = request_key(str(query), artifact, inputs, facts_path)
    if not options.new and not options.dry_run and (options.no_facts or facts_path):
        hit = _remembered_hit(ctx, options, registry, request_id)
        if hit is not None:
            _print(ctx, hit, options.json)
            return EXIT_OK
    return _plan_and_run(options, ctx, query, artifact, inputs, registry, request_id)


def _through_snakemake(
    options: RunOptions, ctx: Context, query: TagQuery, artifact: str | None
) -> int:
    """Compile the request and run it with one Snakemake process (parallel, or on a cluster)."""
    import subprocess
    import sys

    from ..compile.workflow import CMWorkflow
    from ..errors import ScriptFailed

    index = open_index(ctx)
    from ..plan.calls import root_call
    from ..plan.planner import Planner
    from ..plan.provider import IndexProvider

    call = root_call(query, options.inputs, artifact=artifact)
    options.check_inputs(accepted_inputs(Planner(IndexProvider(index)).start(call)))
    if options.new:
        raise UsageError("with --jobs or --profile, rebuild with snakemake's --forcerun")
    inputs = options.inputs
    jobs = None if options.jobs is None else str(options.jobs)
    profile = options.profile
    dry_run = options.dry_run
    workflow = CMWorkflow()
    request = artifact or " ".join(str(query).split(","))
    run_dir = os.path.join(workflow.workdir, "run")
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "request.json"), "w", encoding="utf-8") as fh:
        json.dump({"request": request, "inputs": conceal(inputs)}, fh)  # secrets: via env
    snakefile = os.path.join(run_dir, "Snakefile")
    target_file = os.path.join(run_dir, "target")  # the controller's compiled target
    with contextlib.suppress(FileNotFoundError):
        os.remove(target_file)
    with open(snakefile, "w", encoding="utf-8") as fh:
        fh.write(
            _SNAKEFILE.format(
                request_file=os.path.join(run_dir, "request.json"), target_file=target_file
            )
        )
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
        raise ScriptFailed(
            request,
            "the Snakemake run",
            "a job failed (see its log above)",
            returncode=done.returncode,
        )
    result = _read_target(target_file, request)
    _print(ctx, result, options.json)
    return EXIT_OK


def _read_target(target_file: str, request: str) -> dict[str, Any]:
    """The root result of the run Snakemake just finished: the file its controller compiled
    as the target (planning again here could give another key if a script wrote into its own
    folder meanwhile)."""
    try:
        with open(target_file, encoding="utf-8") as fh:
            target = fh.read().strip()
        with open(target, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
    except FileNotFoundError as exc:
        raise CMSnakemakeError(
            f"the Snakemake run of '{request}' finished, but its result {exc.filename} is "
            "missing (it was moved or removed while the run ended)",
            hint="Run the request again; its finished steps are reused.",
        ) from None
    except ValueError:
        raise CMSnakemakeError(
            f"the result of '{request}' ({target}) is not valid JSON",
            hint="Run the request again; its finished steps are reused.",
        ) from None
    return data


_SNAKEFILE = """# Written by cm-snakemake run --jobs/--profile for one request.
import json
import os
from cm_snakemake.compile.workflow import cm

from cm_snakemake._util.secretenv import reveal
_REQUEST = reveal(json.load(open({request_file!r})))

_TARGET = cm.target(_REQUEST["request"], **_REQUEST["inputs"])
if not os.path.exists({target_file!r}):  # the controller's, not a job's second reading
    with open({target_file!r}, "w") as _fh:
        _fh.write(_TARGET)

rule cm_request:
    input: _TARGET

include: cm.rules()
"""


def _plan_and_run(
    options: RunOptions,
    ctx: Context,
    query: TagQuery,
    artifact: str | None,
    inputs: dict[str, Any],
    registry: Registry,
    request_id: str,
) -> int:
    from ..runtime.facts import host_facts, load_facts

    index = open_index(ctx, registry)
    facts_file = options.facts
    if options.no_facts:
        facts = None
    else:
        facts = load_facts(str(facts_file)) if facts_file else host_facts(index, ctx.reporter)
    scripts = (facts or {}).get("scripts")
    if options.dry_run:
        from ..plan.planner import Planner
        from ..plan.provider import IndexProvider
        from .plan_cmd import render_plan

        planner = Planner(IndexProvider(index), facts=scripts)
        plan, start = planner.plan_request(query, inputs, artifact=artifact)
        options.check_inputs(accepted_inputs(start))
        report_choice(ctx, query, artifact, plan.node(plan.root))
        if options.json:
            print(json.dumps(plan.to_json(), indent=1), file=ctx.out)
        else:
            print(render_plan(plan), file=ctx.out)
        return EXIT_OK
    from ..cache.store import CacheStore
    from ..runtime.runner import Runtime

    cache = CacheStore(options.cache_dir)
    runtime = Runtime(index, cache=cache, facts=scripts, reporter=ctx.reporter, new=options.new)
    prepared = runtime.prepare(query, inputs, artifact=artifact)  # the script, selected once
    accepted = accepted_inputs(prepared.start)
    options.check_inputs(accepted)
    if settings.offline:  # every need the plan knows is in the bundle, before any work
        from ..offline.bundle import check_offline
        from ..plan.planner import Planner
        from ..plan.provider import IndexProvider

        plan, _ = Planner(IndexProvider(index), facts=scripts).plan_request(
            query, inputs, artifact=artifact
        )
        request = artifact or " ".join(str(query).split(","))
        check_offline([plan], settings.offline, request=request)
    report_choice(ctx, query, artifact, prepared.node)
    result = runtime.run_prepared(prepared)
    index.flush()
    if not options.facts or facts is not None:
        _remember(runtime, registry, request_id, result.key, accepted)
    _print(ctx, result.to_json(), options.json)
    return EXIT_OK


RUN = Command(
    "run", _run, RunOptions,
    synopsis='[script] ALIAS | "TAGS" [--env.KEY=VALUE ...] [--NAME=VALUE ...]',
    about="""Run the script that matches the request, with its dependencies, in CM's order and
with CM's semantics (customize.py hooks, native scripts, conditions decided on the live env),
and print the env keys it exports (its new_env_keys) as KEY=VALUE lines. Cached scripts are
stored in the cache store ($CMSM_HOME/cache, or $CMSM_CACHE) and reused by key.

Any flag that is not run's own is an input of the script; one the script does not accept is an
error.""",
    arguments=(*REQUEST_ARGUMENTS, *INPUT_ARGUMENTS),
)  # fmt: skip
