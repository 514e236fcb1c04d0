"""The runtime: run a request with CM's semantics, using the planner and the cache store.

For each script call (the request, then each dependency as CM reaches it) the runtime:

1. plans the call with the live env, which gives its node (full variations, versions, key);
2. if the script is cached and the cache has a complete entry for the key, returns it;
3. otherwise runs CM's stage sequence in the entry folder (cached; under the entry's lock) or
   in the caller's folder (not cached)::

       env after CM's phases before deps (the planner's NodeState, live values)
       predeps (MLC) → deps → preprocess → prehook_deps → native script
       → posthook_deps → postprocess → post_deps → exports (new_env_keys/new_state_keys)

   Each dependency is decided against the live env exactly as CM does (which is how the
   plan's residual dependencies get decided) and run recursively through this same function;
4. writes the result atomically (the cache entry's result file last).

Results are remembered by node key within one runtime, so a node reached twice runs once.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util.frozen import thaw
from .._util.reporting import NullReporter, Reporter
from .._util.secretenv import HIDDEN, is_secret, restore, strip
from ..cache.store import CacheStore, file_lock, safe_name
from ..errors import CMSnakemakeError, ScriptFailed
from ..meta.model import DEP_LISTS, dep_from_raw, dep_to_raw
from ..plan.penv import PEnv
from ..plan.planner import NodeState, PlanError, Planner, planned_call, root_call
from . import hooks
from .exports import select_keys
from .native import (
    ENV_OUT,
    TimedOut,
    explain_missing_script,
    read_run_state,
    run_native,
    select_native_script,
)
from .provider import CachePreferringProvider

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..index.scripts import ScriptIndex
    from ..meta.tags import TagQuery
    from ..plan.model import Plan, PlanNode, ResidualDep, StaticDep
    from ..plan.planner import _Call

__all__ = ["NodeResult", "Runtime"]

_TMP_FILES = ("tmp-run-state.json", "tmp-run-env.out", "tmp-ver.out", "tmp-env.sh",
              "tmp-env-all.sh", "tmp-state.json", "tmp-run.sh")  # fmt: skip


@dataclass
class NodeResult:
    """What one script run returns to its caller."""

    key: str
    script: str
    new_env: dict[str, Any]
    new_state: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    from_cache: bool = False
    path: str = ""
    deps: list[str] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0
    extra_cache_tags: list[str] = field(default_factory=list)
    secret_keys: list[str] = field(default_factory=list)  # exported secrets not stored

    def to_json(self) -> dict[str, Any]:
        data = {"key": self.key, "script": self.script, "new_env": self.new_env,
                "new_state": self.new_state, "version": self.version,
                "from_cache": self.from_cache, "path": self.path, "deps": self.deps,
                "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "extra_cache_tags": self.extra_cache_tags}  # fmt: skip
        if self.secret_keys:
            data["secret_keys"] = list(self.secret_keys)
        return data


def _merge_into(target: dict[str, Any], values: dict[str, Any]) -> None:
    """CM's merge of exports: lists are appended (without duplicates), the rest replaced."""
    for key, value in values.items():
        old = target.get(key)
        if isinstance(value, list | tuple) and isinstance(old, list | tuple):
            target[key] = [*old, *(v for v in value if v not in old)]
        elif isinstance(value, dict) and isinstance(old, dict):
            _merge_into(old, value)
        else:
            target[key] = list(value) if isinstance(value, tuple) else value


def _penv(env: dict[str, Any]) -> PEnv:
    """The live env for the planner's rules: list values as tuples, other values as text."""
    return PEnv({k: tuple(str(x) for x in v) if isinstance(v, list | tuple) else
                 ("" if v is None else v if isinstance(v, str) else str(v))
                 for k, v in env.items()})  # fmt: skip


def _plain(env: PEnv) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in env.known().items()}


class Runtime:
    """Runs requests; one instance per command (or per Snakemake job)."""

    def __init__(
        self,
        index: ScriptIndex,
        *,
        cache: CacheStore | None = None,
        facts: dict[str, dict[str, str]] | None = None,
        reporter: Reporter | None = None,
        workdir: str | None = None,
        new: bool = False,
        results_dir: str | None = None,
    ) -> None:
        self.cache = cache or CacheStore()
        # a time limit (minutes) for every native script, over resources.timeout of the meta
        self.timeout_minutes: float | None = None
        self.provider = CachePreferringProvider(index, self.cache)
        self.planner = Planner(self.provider, facts=facts, reporter=reporter)
        self.reporter = reporter or NullReporter()
        self.workdir = os.path.abspath(workdir or os.getcwd())
        self.new = new
        self._plan: Plan | None = None
        self.results_dir = os.path.abspath(results_dir) if results_dir else None
        self._root: _Call | None = None
        self.results: dict[str, NodeResult] = {}
        self.os_info = hooks.os_info()

    # -- entry points --------------------------------------------------------------------------

    def run(self, request: str | TagQuery, inputs: dict[str, Any] | None = None, *,
            artifact: str | None = None) -> NodeResult:  # fmt: skip
        """Run a top-level request (tags and/or ``repo:alias``) with CLI-style inputs."""
        call = root_call(request, inputs, artifact=artifact)
        self._root = call
        return self.run_call(call, state={}, cwd=self.workdir)

    def run_call(self, call: _Call, *, state: dict[str, Any], cwd: str) -> NodeResult:
        """Run one script call (planning it first with the live env)."""
        node = self.planner.plan_call(call)
        done = self.results.get(node.key)
        if done is not None:
            return done
        if node.cached:
            result = self._run_cached(call, node, state)
        else:
            result = self._execute(call, node, state, cwd)
        self.results[node.key] = result
        return result

    def run_planned(self, plan: Plan, key: str) -> NodeResult:
        """Run node ``key`` of ``plan`` as planned: its static dependencies must already have
        results (a Snakemake job runs after the jobs of its inputs); its residual ones are
        decided here. The result is stored under the planned key."""
        node = plan.node(key)
        call = planned_call(node)
        self._root = call
        self._plan = plan
        if node.cached:
            result = self._run_cached(call, node, {})
        else:
            work = self._work_dir(node)
            # one run at a time in a node's folder: a job of a killed Snakemake controller may
            # still be running it when the next controller starts the node again
            lock = (file_lock(os.path.join(os.path.dirname(work), f".{node.key}.lock"),
                              on_wait=self._waiting(node))
                    if self.results_dir else contextlib.nullcontext())  # fmt: skip
            with lock:
                result = self._execute(call, node, {}, work)
                self._write_result(node, result)
        self.results[node.key] = result
        return result

    def _waiting(self, node: PlanNode) -> Callable[[str], None]:
        def report(message: str) -> None:
            self.reporter.note(f"{node.alias}: {message}")

        return report

    def _work_dir(self, node: PlanNode) -> str:
        """Where a planned node that is not cached runs. Under CM that is the current folder;
        jobs of one workflow run side by side, and each script writes ``tmp-run.sh`` and
        ``tmp-run-env.out`` where it runs, so each node gets its own folder beside its result
        file (``<results>/<alias>/<key>/``)."""
        if self.results_dir is None:
            return self.workdir
        path = os.path.join(self.results_dir, safe_name(node.alias), node.key)
        os.makedirs(path, exist_ok=True)
        return path

    def time_limit(self, node: PlanNode) -> float | None:
        """Seconds a native script of ``node`` may run: the runtime's limit, else the
        ``timeout`` resource (minutes) of its meta and variations; None for no limit."""
        minutes: float | None = self.timeout_minutes
        if minutes is None:
            raw = node.resources.get("timeout", "")
            try:
                minutes = float(raw) if raw not in ("", None) else None
            except ValueError:
                self.reporter.warning(f"{node.script}: resources.timeout {raw!r} is not a "
                                      "number of minutes; no time limit")  # fmt: skip
        return minutes * 60 if minutes and minutes > 0 else None

    def result_for(self, node: PlanNode) -> NodeResult | None:
        """The stored result of a planned node (cache entry, or result file), if any."""
        if node.cached:
            return self._hit(node)
        path = self.result_path(node)
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return NodeResult(
            node.key, node.script, restore(data.get("new_env", {}), data.get("secret_keys")),
            data.get("new_state", {}),
            str(data.get("version", "")), path=str(data.get("path", "")),
            deps=list(data.get("deps", [])), secret_keys=list(data.get("secret_keys", [])),
        )  # fmt: skip

    def result_path(self, node: PlanNode) -> str | None:
        """Where a node's result lives: its cache entry, or the workflow's results folder."""
        if node.cached:
            return os.path.join(self.cache.entry_path(node.alias, node.key), "cmsm-result.json")
        if self.results_dir is None:
            return None
        return os.path.join(self.results_dir, safe_name(node.alias), f"{node.key}.json")

    def _write_result(self, node: PlanNode, result: NodeResult) -> None:
        path = self.result_path(node)
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        record = {**strip(result.to_json()), "host": platform.node(),
                  "slurm_job_id": os.environ.get("SLURM_JOB_ID")}  # fmt: skip
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1, default=str)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CMSnakemakeError(f"could not write the result of {node.script} to {path}: "
                                   f"{exc.strerror or exc}",
                                   hint="Free some space and run again.") from None  # fmt: skip

    # -- cached nodes ------------------------------------------------------------------------

    def _hit(self, node: PlanNode) -> NodeResult | None:
        entry = self.cache.lookup(node.alias, node.key)
        if entry is None:
            return None
        if "relocated_from" in entry.result:
            self.reporter.note(f"cache entry of {node.alias} moved from "
                               f"{entry.result['relocated_from']}; paths adjusted")  # fmt: skip
        self.reporter.stage(node.alias, f"from cache {entry.path}")
        new_env = restore(dict(entry.new_env), entry.result.get("secret_keys"))
        return NodeResult(node.key, node.script, new_env, dict(entry.new_state),
                          str(entry.result.get("version", "")), True, entry.path,
                          list(entry.result.get("deps", [])),
                          secret_keys=list(entry.result.get("secret_keys", [])))  # fmt: skip

    def _restored(self, node: PlanNode) -> NodeResult | None:
        """In a Snakemake job: an entry another process completed after this workflow's
        controller started, whose marker Snakemake then deleted before running the job."""
        started = os.environ.get("CMSM_CONTROLLER_STARTED", "")
        try:
            since = float(started)
        except ValueError:
            return None
        if self.cache.restore_marker(node.alias, node.key, since) is None:
            return None
        self.reporter.note(f"{node.alias}: the entry was completed by another process while "
                           "this workflow started; using it")  # fmt: skip
        return self._hit(node)

    def _run_cached(self, call: _Call, node: PlanNode, state: dict[str, Any]) -> NodeResult:
        rebuild = self.new and call is self._root  # --new applies to the request, as in CM
        if not rebuild:
            hit = self._hit(node)
            if hit is not None:
                return hit
        with self.cache.lock(node.alias, node.key, on_wait=self._waiting(node)):
            if not rebuild:
                hit = self._hit(node)  # built by another process while we waited
                if hit is not None:
                    return hit
                hit = self._restored(node)
                if hit is not None:
                    return hit
            path, leftover = self.cache.prepare(node.alias, node.key)
            if leftover:
                self.reporter.warning(
                    f"removed an incomplete cache entry of {node.alias} "
                    f"(an earlier build failed or was killed): {leftover}"
                )
            try:
                result = self._execute(call, node, state, path)
            except BaseException:
                self.cache.discard(node.alias, node.key)
                raise
            record = strip(result.to_json())  # secrets never reach the disk
            try:
                self.cache.commit(node.alias, node.key, record,
                                  self._provenance(call, node, result))  # fmt: skip
            except OSError as exc:
                self.cache.discard(node.alias, node.key)  # no marker: nothing half-written
                raise CMSnakemakeError(
                    f"could not write the cache entry of {node.script} in {path}: "
                    f"{exc.strerror or exc}",
                    hint="Free some space (or raise the file-size limit) and run again; "
                         "the entry was removed, the rest of the cache is unaffected.",
                ) from None  # fmt: skip
            result.path = path
            return result

    def _provenance(self, call: _Call, node: PlanNode, result: NodeResult) -> dict[str, Any]:
        return {
            "request": call.tags or str(call.query),
            "script": node.script,
            "variations": list(node.variations),
            "versions": dict(node.versions),
            "version": result.version,
            "deps": [d.key for d in node.static_deps],
            "facts": {k: self.planner.facts.get(node.alias, {}).get(k) for k in node.facts},
            "host": platform.node(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(result.seconds, 3),
        }

    # -- running one script ------------------------------------------------------------------

    def _execute(self, call: _Call, node: PlanNode, state: dict[str, Any], cwd: str) -> NodeResult:
        """CM's stage sequence for one node, in ``cwd``."""
        started = time.monotonic()
        previous = os.getcwd()
        os.chdir(cwd)  # hooks read and write relative paths, as under CM (which chdirs too)
        try:
            result = _ScriptRun(self, call, node, state, cwd).execute()
        finally:
            os.chdir(previous)
        result.seconds = time.monotonic() - started
        return result


class _ScriptRun:
    """The live state of one script run: env, state, pending dependency lists."""

    def __init__(self, runtime: Runtime, call: _Call, node: PlanNode, state: dict[str, Any],
                 cwd: str) -> None:  # fmt: skip
        self.runtime = runtime
        self.call = call
        self.node = node
        self.state = state
        self.cwd = cwd
        self.node_state: NodeState = runtime.planner.node_state(call)
        self.meta = self.node_state.meta
        variations = ",".join(f"_{v}" for v in node.variations)
        self.name = f"{node.script} {variations}" if variations else node.script
        self.deps_run: list[str] = []
        self.customize = hooks.load_customize(self.meta.path, self.name)
        self.raw_meta = self._raw_meta()
        self.rsi: dict[str, Any] = {}
        plan = runtime._plan
        planned = plan is not None and plan.nodes.get(node.key) is node
        self.planned: list[StaticDep | ResidualDep] = list(node.deps) if planned else []
        self.version = ""
        self.extra_cache_tags: list[str] = []

    # -- the i dict and the live meta -------------------------------------------------------

    def _raw_meta(self) -> dict[str, Any]:
        from ..meta.model import to_jsonable

        raw: dict[str, Any] = to_jsonable(self.meta)
        for name in DEP_LISTS:
            raw[name] = [dep_to_raw(d) for d in self.node_state.lists[name]]
        return raw

    def _sync_lists(self) -> None:
        """Hooks may edit ``i['meta']`` dep lists (directly or with ``update_deps``)."""
        for name in DEP_LISTS:
            self.node_state.lists[name] = tuple(dep_from_raw(d) for d in self.raw_meta[name])

    @property
    def env(self) -> dict[str, Any]:
        return self._env

    def _hook_input(self) -> dict[str, Any]:
        return {
            "env": self._env,
            "state": self.state,
            "const": {},
            "meta": self.raw_meta,
            "input": thaw(self.call.inputs),
            "automation": self.automation,
            "artifact": _Artifact(self.meta.path, self.raw_meta),
            "customize": thaw(self.meta.customize),
            "os_info": self.runtime.os_info,
            "recursion_spaces": "  ",
            "script_tags": list(self.call.query.tags),
            "variation_tags": list(self.call.query.variations),
            "run_script_input": self.rsi,
        }

    def execute(self) -> NodeResult:
        self._env: dict[str, Any] = _plain(self.node_state.env)
        self.rsi.update({
            "path": self.meta.path, "bat_ext": self.runtime.os_info["bat_ext"],
            "os_info": self.runtime.os_info, "const": dict(self.node_state.const),
            "state": self.state, "meta": self.raw_meta, "script_name": None,
            "tmp_file_run_state": "tmp-run-state.json", "tmp_file_run_env": ENV_OUT,
            "tmp_file_ver": "tmp-ver.out", "tmp_file_state": "tmp-state.json",
            "local_env_keys": list(self.meta.local_env_keys), "recursion_spaces": "  ",
            "add_deps_recursive": self.node_state.adr,
            "posthook_deps": self.raw_meta["posthook_deps"],
            "variation_tags_string": self.node_state.resolved.tags,
            "run_state": {"script_id": self.meta.ident, "script_tags": list(self.meta.tags),
                          "script_variation_tags": list(self.node_state.resolved.all),
                          "version_info": []},
        })  # fmt: skip
        from .automation import ScriptAutomation
        from .compat import cmind as compat_cmind

        self.automation = ScriptAutomation(
            script=self.name, script_dir=self.meta.path, prefix=self.node_state.prefix,
            cwd=self.cwd, customize=self.customize, hook_input=self._hook_input,
            script_prefix=lambda: list(self.state.get("script_prefix", [])),
        )  # fmt: skip
        token = compat_cmind.CURRENT_RUNNER.set(self._nested_run)
        try:
            return self._stages()
        finally:
            compat_cmind.CURRENT_RUNNER.reset(token)

    def _stages(self) -> NodeResult:
        ns = self.node_state
        if ns.mlc and self.meta.predeps and self.customize is not None:
            self._hook("predeps")
        self._deps("deps")
        self._clean(self.meta.clean_files)
        if self.customize is not None:
            ns.env = _penv(self._env)
            ns._impose_const()
            self._env = _plain(ns.env)
            outcome = self._hook("preprocess")
            if outcome.get("skip"):
                return self._skip(outcome)
        self._deps("prehook_deps")
        self._native()
        self._deps("posthook_deps")
        if self.customize is not None:
            self._hook("postprocess")
        self._deps("post_deps")
        return self._finish()

    # -- stages ------------------------------------------------------------------------------

    def _hook(self, name: str) -> dict[str, Any]:
        assert self.customize is not None
        self.runtime.reporter.stage(self.meta.alias, name)
        result = hooks.call_hook(self.customize, name, self._hook_input(), self.name)
        self._sync_lists()
        if result.get("version"):
            self.version = str(result["version"])
        self.extra_cache_tags += list(result.get("add_extra_cache_tags", []) or [])
        return result

    def _skip(self, outcome: dict[str, Any]) -> NodeResult:
        script = outcome.get("script")
        if isinstance(script, dict):  # run another script instead, with the same env
            tags = str(script.get("tags", ""))
            inputs = {k: v for k, v in script.items() if k != "tags"}
            call = root_call(tags, {**inputs, "env": self._env})
            other = self.runtime.run_call(call, state=self.state, cwd=self.cwd)
            return NodeResult(self.node.key, self.node.script, dict(other.new_env),
                              dict(other.new_state), other.version, path=self.cwd,
                              deps=[*self.deps_run, tags])  # fmt: skip
        return NodeResult(self.node.key, self.node.script, {}, {}, path=self.cwd,
                          deps=self.deps_run,
                          skipped=True)  # fmt: skip

    def _deps(self, list_name: str) -> None:
        ns = self.node_state
        for dep in list(ns.lists[list_name]):
            if not dep.tags:
                continue
            ns.env = _penv(self._env)
            made = ns.child_call(list_name, dep, ())
            if made is None:
                continue
            if isinstance(made, str):  # cannot happen with every value known
                raise PlanError(f"{self.name}: {list_name} '{dep.tags}': {made}")
            child, hidden = made
            self.runtime.reporter.stage(self.meta.alias, f"{list_name} {child.tags}")
            result = self._planned_result(list_name, dep.tags)
            if result is None:
                result = self.runtime.run_call(child, state=self.state, cwd=self.cwd)
            self.deps_run.append(child.tags)
            _merge_into(self._env, result.new_env)
            _merge_into(self.state, result.new_state)
            ns.env = _penv(self._env)
            ns.restore(hidden)
            self._env = _plain(ns.env)

    def _planned_result(self, list_name: str, tags: str) -> NodeResult | None:
        """The result of the planned static dependency at this point, if the plan has one."""
        for i, dep in enumerate(self.planned):
            declared = getattr(dep, "declared", "") or dep.tags
            if dep.list != list_name or declared != tags:
                continue
            del self.planned[i]
            key = getattr(dep, "key", None)
            if key is None:  # residual: decided and run here
                return None
            plan = self.runtime._plan
            assert plan is not None
            found = self.runtime.result_for(plan.node(key))
            if found is None:
                raise ScriptFailed(self.name, list_name, f"the result of dependency "
                                   f"'{dep.tags}' ({key[:12]}) is missing",
                                   hint="Run the workflow through Snakemake, which runs "
                                   "dependencies first.")  # fmt: skip
            return found
        return None

    def _native(self) -> None:
        ns = self.node_state
        base = self.rsi.get("script_name") or ns.script_name or "run"
        script = select_native_script(Path(self.meta.path), str(base), self._env,
                                      env_prefix=ns.prefix)  # fmt: skip
        if script is None:
            missing = explain_missing_script(
                Path(self.meta.path), str(base), self._env, env_prefix=ns.prefix,
                named=bool(self.rsi.get("script_name") or ns.script_name),
            )  # fmt: skip
            if missing is not None and missing.fatal:
                raise ScriptFailed(self.name, "native script", missing.message, hint=missing.hint)
            if missing is not None:
                self.runtime.reporter.warning(
                    f"script '{self.name}': {missing.message}\n{missing.hint}"
                )
            return
        for old, new in self.meta.env_key_mappings.items():
            for key in [k for k in self._env if k.startswith(old)]:
                self._env[new + key[len(old) :]] = self._env[key]
        ns.env = _penv(self._env)
        ns._impose_const()
        self._env = _plain(ns.env)
        self._env.setdefault("CMSM_PYTHON", sys.executable)  # the Python running cm-snakemake
        self._env[f"{ns.prefix}TMP_CURRENT_SCRIPT_PATH"] = self.meta.path
        self._env[f"{ns.prefix}TMP_CURRENT_SCRIPT_WORK_PATH"] = self.cwd
        work = Path(self.cwd)
        for name in (ENV_OUT, "tmp-run-state.json"):
            if os.path.exists(work / name):
                os.remove(work / name)
        with open(work / "tmp-state.json", "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, default=str)
        self.runtime.reporter.stage(self.meta.alias, f"run {script.name}")
        limit = self.runtime.time_limit(self.node)
        try:
            done = run_native(work, self._env, script, timeout=limit,
                              script_prefix=self.state.get("script_prefix", []))  # fmt: skip
        except TimedOut:
            raise ScriptFailed(
                self.name, f"native script {script.name}",
                f"it ran longer than its time limit of {(limit or 0) / 60:g} min and was "
                f"stopped (in {self.cwd})",
                hint="The limit is resources.timeout (minutes) in the script's meta, or "
                     "--timeout=MIN (Snakemake: the cm_timeout resource, e.g. --set-resources "
                     "RULE:cm_timeout=MIN, or config cm_timeout in the profile). Raise it if "
                     "the script needs longer.",
            ) from None  # fmt: skip
        if done.code != 0:
            self._print_error_files()
            raise ScriptFailed(self.name, f"native script {script.name}",
                               f"it failed in {self.cwd}", returncode=done.code,
                               hint="The script's output is above.")  # fmt: skip
        values = done.values
        for line in done.bad:
            self.runtime.reporter.warning(f"{self.name}: {ENV_OUT}: no '=' in line {line!r}")
        for key, value in values.items():
            if key.startswith("+"):
                _merge_into(self._env, {key: [v for v in value.split(os.pathsep) if v]})
            else:
                self._env[key] = value
        _merge_into(self.state, read_run_state(work / "tmp-run-state.json", script=self.name))

    def _print_error_files(self) -> None:
        for name in self.meta.print_files_if_script_error:
            path = os.path.join(self.cwd, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    self.runtime.reporter.warning(f"{name} of {self.name}:\n{fh.read()}")

    def _clean(self, names: tuple[str, ...]) -> None:
        for name in (*names, *_TMP_FILES):
            path = os.path.join(self.cwd, name)
            if os.path.isfile(path) and os.path.realpath(path).startswith(
                os.path.realpath(self.cwd)
            ):
                os.remove(path)

    def _finish(self) -> NodeResult:
        ns = self.node_state
        ns.env = _penv(self._env)
        ns._impose_const()
        self._env = _plain(ns.env)
        forced = self.call.inputs.get("force_new_env_keys")
        patterns = list(forced) if isinstance(forced, list) else ns.new_env_keys
        new_env = select_keys(self._env, patterns)
        new_state = select_keys(self.state, list(self.meta.new_state_keys))
        version = (self.version or str(self._env.get(f"{ns.prefix}DETECTED_VERSION", ""))
                   or str(self._env.get(f"{ns.prefix}VERSION", "")))  # fmt: skip
        for key, label in self.meta.print_env_at_the_end.items():
            if key in new_env:
                shown = HIDDEN if is_secret(key) else new_env[key]
                self.runtime.reporter.info(f"{label}: {shown}")
        if not self.node.cached:
            self._clean(self.meta.clean_files)
        return NodeResult(self.node.key, self.node.script, new_env, new_state, version, False,
                          self.cwd, self.deps_run,
                          extra_cache_tags=self.extra_cache_tags)  # fmt: skip

    # -- nested runs from customize.py -------------------------------------------------------

    def _nested_run(self, i: dict[str, Any]) -> dict[str, Any]:
        """``cmind.access({'action': 'run', 'automation': 'script', ...})`` from a hook."""
        tags = str(i.get("tags", ""))
        env = i.get("env")
        state = i.get("state") if isinstance(i.get("state"), dict) else self.state
        inputs = {k: v for k, v in i.items()
                  if k not in {"action", "automation", "tags", "env", "state", "quiet", "silent",
                               "verbose", "out", "artifact"}}  # fmt: skip
        live = {k: v for k, v in dict(env or {}).items()}
        call = root_call(tags, {**inputs, "env": live}, artifact=i.get("artifact"))
        try:
            result = self.runtime.run_call(call, state=state, cwd=self.cwd)  # type: ignore[arg-type]
        except CMSnakemakeError as exc:
            return {"return": exc.exit_code or 1, "error": exc.render()}
        if isinstance(env, dict):
            _merge_into(env, result.new_env)
        return {"return": 0, "new_env": result.new_env, "new_state": result.new_state,
                "env": env, "state": state, "deps": result.deps}  # fmt: skip


class _Artifact:
    """``i['artifact']``: the script folder and meta."""

    def __init__(self, path: str, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.repo_path = os.path.dirname(os.path.dirname(path))
