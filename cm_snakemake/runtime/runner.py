"""The runtime: run a request with CM's semantics, using the planner and the cache store.

For each script call (the request, then each dependency as CM reaches it) the runtime:

1. has the planner plan the call with the live env, which gives its :class:`Prepared`
   node: where it starts (:class:`~cm_snakemake.plan.prepare.Start`: the selected script
   and CM's phases before the dependencies) and its planned node (variations, versions,
   key);
2. if the script is cached and the cache has a complete entry for the key, returns it;
3. otherwise runs the rest of CM's stage sequence (:class:`~.script_run.ScriptRun`) in the
   entry folder (cached; under the entry's lock) or in the caller's folder (not cached);
4. writes the result atomically (the cache entry's result file last).

Results are remembered by node key within one runtime, so a node reached twice runs once.
A Snakemake job runs one node of a compiled plan (:meth:`Runtime.run_planned`): its static
dependencies' results are read from their files, its residual ones decided in the job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import time
from typing import Any

from .._util.reporting import NullReporter, Reporter
from .._util.secretenv import restore, strip
from .._util.settings import settings
from ..cache.store import CacheEntry, CacheStore, file_lock, safe_name
from ..errors import CMSnakemakeError
from ..plan.calls import root_call
from ..plan.keys import family_key, tag_env
from ..plan.planner import Planner, Prepared
from . import hooks
from .provider import CachePreferringProvider
from .result import NodeResult
from .script_run import ScriptRun

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..index.scripts import ScriptIndex
    from ..meta.tags import TagQuery
    from ..offline.bundle import Bundle
    from ..plan.calls import Call
    from ..plan.model import Plan, PlanNode, ResidualDep, StaticDep
    from ..plan.prepare import Start
    from .subflow import Subflows

    Lookup = Callable[[str], NodeResult | None]

__all__ = ["NodeResult", "Runtime"]


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
        self.results: dict[str, NodeResult] = {}
        # CM's run_state['version_info']: one entry per script run so far, in order, each
        # naming its caller (``parents``: the script runs under way, innermost last)
        self.version_info: list[dict[str, Any]] = []
        self.parents: list[str] = []
        self.os_info = hooks.os_info()
        self.subflows: Subflows | None = None  # in a job: nested Snakemake runs
        self._bundle: Bundle | None = None
        self._offline_path = settings.offline  # absolute here, before any chdir

    @property
    def offline(self) -> Bundle | None:
        """The prefetch bundle of an offline run (``CMSM_OFFLINE``), or ``None``."""
        path = self._offline_path
        if not path:
            return None
        if self._bundle is None or self._bundle.root != path:
            from ..offline.bundle import Bundle

            self._bundle = Bundle.open(path)
            # pip in a hook's own subprocess, too, takes packages only from the bundle
            os.environ.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=self._bundle.pip_dir)
        return self._bundle

    # -- entry points --------------------------------------------------------------------------

    def prepare(
        self,
        request: str | TagQuery,
        inputs: dict[str, Any] | None = None,
        *,
        artifact: str | None = None,
    ) -> Prepared:
        """Plan a top-level request (tags and/or ``repo:alias``) with CLI-style inputs."""
        return self.planner.plan_call(root_call(request, inputs, artifact=artifact))

    def run(
        self,
        request: str | TagQuery,
        inputs: dict[str, Any] | None = None,
        *,
        artifact: str | None = None,
    ) -> NodeResult:
        """Run a top-level request (tags and/or ``repo:alias``) with CLI-style inputs."""
        return self.run_prepared(self.prepare(request, inputs, artifact=artifact))

    def run_prepared(self, prepared: Prepared) -> NodeResult:
        """Run a request :meth:`prepare` planned; ``new`` rebuilds its entry (as CM's
        ``--new``, for the request only)."""
        return self._run(prepared, state={}, cwd=self.workdir, rebuild=self.new)

    def run_call(self, call: Call, *, state: dict[str, Any], cwd: str) -> NodeResult:
        """Run one script call (planning it first with the live env). In a job, its
        dependencies may first be scheduled by a nested Snakemake run (``subflow.py``)."""
        prepared = self.planner.plan_call(call)
        lookup = None
        if self.subflows is not None and prepared.node.key not in self.results:
            lookup = self.subflows.schedule(prepared, state)
        return self._run(prepared, state=state, cwd=cwd, rebuild=False, lookup=lookup)

    def _run(
        self,
        prepared: Prepared,
        *,
        state: dict[str, Any],
        cwd: str,
        rebuild: bool,
        lookup: Lookup | None = None,
    ) -> NodeResult:
        node = prepared.node
        for name in prepared.start.meta.clean_output_files:  # CM: before the cache lookup
            path = os.path.join(cwd, name)
            if os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)
        done = self.results.get(node.key)
        if done is not None:
            return done
        planned = node.deps if lookup is not None else ()
        if node.cached:
            result = self._run_cached(
                prepared.start,
                node,
                state,
                rebuild=rebuild,
                satisfying=not rebuild,
                planned=planned,
                lookup=lookup,
            )
        else:
            result = self._execute(prepared.start, node, state, cwd, planned, lookup)
        self.results[node.key] = result
        self._record_version(prepared.start, result)
        return result

    def _record_version(self, start: Start, result: NodeResult) -> None:
        variations = list(start.call.query.variations)  # the explicit ones, as CM lists them
        tags = ",".join([*start.call.query.tags, *(f"_{v}" for v in variations)])
        self.version_info.append(
            {
                tags: {
                    "script_uid": start.meta.uid,
                    "script_alias": start.meta.alias,
                    "script_tags": ",".join(start.meta.tags),
                    "script_variations": ",".join(variations),
                    "version": result.version,
                    "parent": self.parents[-1] if self.parents else None,
                }
            }
        )

    def run_planned(
        self,
        plan: Plan,
        key: str,
        callers: Sequence[str] = (),
        root_state: dict[str, Any] | None = None,
    ) -> NodeResult:
        """Run node ``key`` of ``plan`` as planned: its static dependencies must already have
        results (a Snakemake job runs after the jobs of its inputs); its residual ones, and
        those that run inside its job, are decided here. ``callers`` (root first) are the
        first callers whose env it receives (``replay.py``), the first called with
        ``root_state``. The result is stored under the planned key."""
        from .replay import replayed_call

        node = plan.node(key)
        self._plan = plan
        call, state = replayed_call(self, plan, key, list(callers), root_state)
        start = self.planner.start(call)
        if node.cached:
            result = self._run_cached(start, node, state, rebuild=self.new, planned=node.deps)
        else:
            work = self._work_dir(node)
            # one run at a time in a node's folder: a job of a killed Snakemake controller may
            # still be running it when the next controller starts the node again
            lock = (
                file_lock(
                    os.path.join(os.path.dirname(work), f".{node.key}.lock"),
                    on_wait=self._waiting(node),
                )
                if self.results_dir
                else contextlib.nullcontext()
            )
            with lock:
                result = self._execute(start, node, state, work, planned=node.deps)
                self._write_result(node, result)
        self.results[node.key] = result
        return result

    def planned_result(self, key: str) -> NodeResult | None:
        """In a planned job: the stored result of the plan's node ``key``."""
        if self._plan is None:
            return None
        return self.result_for(self._plan.node(key))

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
                self.reporter.warning(
                    f"{node.script}: resources.timeout {raw!r} is not a "
                    "number of minutes; no time limit"
                )
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
            node.key,
            node.script,
            restore(data.get("new_env", {}), data.get("secret_keys")),
            data.get("new_state", {}),
            str(data.get("version", "")),
            path=str(data.get("path", "")),
            deps=list(data.get("deps", [])),
            secret_keys=list(data.get("secret_keys", [])),
        )

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
        record = {
            **strip(result.to_json()),
            "host": platform.node(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        }
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1, default=str)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CMSnakemakeError(
                f"could not write the result of {node.script} to {path}: {exc.strerror or exc}",
                hint="Free some space and run again.",
            ) from None

    # -- cached nodes ------------------------------------------------------------------------

    def _hit(self, node: PlanNode) -> NodeResult | None:
        entry = self.cache.lookup(node.alias, node.key)
        return None if entry is None else self._stored(node, entry)

    def _stored(self, node: PlanNode, entry: CacheEntry) -> NodeResult:
        """The result a complete cache entry of ``node`` holds."""
        if "relocated_from" in entry.result:
            self.reporter.note(
                f"cache entry of {node.alias} moved from "
                f"{entry.result['relocated_from']}; paths adjusted"
            )
        self.reporter.stage(node.alias, f"from cache {entry.path}")
        new_env = restore(dict(entry.new_env), entry.result.get("secret_keys"))
        return NodeResult(
            node.key,
            node.script,
            new_env,
            dict(entry.new_state),
            str(entry.result.get("version", "")),
            True,
            entry.path,
            list(entry.result.get("deps", [])),
            secret_keys=list(entry.result.get("secret_keys", [])),
        )

    def _satisfying(self, start: Start, node: PlanNode, family: str) -> NodeResult | None:
        """CM's reuse across version requests: an entry of the same family (the same key
        but for the versions asked for) whose version satisfies this request."""
        mine = tag_env(start)
        found = []
        for entry in self.cache.entries_of(node.alias):
            if entry.result.get("family") != family or entry.key == node.key or entry.expired():
                continue
            if not start.versions.allows(str(entry.result.get("version", ""))):
                continue
            theirs = entry.result.get("tag_env") or {}
            if any(k in theirs and theirs[k] != v for k, v in mine.items()):
                continue  # made for another python (say): its cache tags differ
            found.append(entry)
        named = {item.get("env", "") for item in start.meta.extra_cache_tags_from_env}
        if not found or (len(found) > 1 and not named <= set(mine)):
            return None  # without the caller's tag values, only a single candidate is clear
        entry = found[0]
        self.reporter.note(
            f"{node.alias}: the entry {entry.key[:12]} (version "
            f"{entry.result.get('version') or 'unknown'}) serves this request too; using it"
        )
        return self._stored(dataclasses.replace(node, key=entry.key), entry)

    def _restored(self, node: PlanNode) -> NodeResult | None:
        """In a Snakemake job: an entry another process completed after this workflow's
        controller started, whose marker Snakemake then deleted before running the job."""
        since = settings.controller_started
        if since is None:
            return None
        if self.cache.restore_marker(node.alias, node.key, since) is None:
            return None
        self.reporter.note(
            f"{node.alias}: the entry was completed by another process while "
            "this workflow started; using it"
        )
        return self._hit(node)

    def _run_cached(
        self,
        start: Start,
        node: PlanNode,
        state: dict[str, Any],
        *,
        rebuild: bool,
        planned: Sequence[StaticDep | ResidualDep] = (),
        satisfying: bool = False,
        lookup: Lookup | None = None,
    ) -> NodeResult:
        entry = None if rebuild else self.cache.lookup(node.alias, node.key)
        expired = entry is not None and entry.expired()
        if expired:
            assert entry is not None and entry.expires is not None
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.expires))
            self.reporter.note(f"{node.alias}: the cache entry expired at {when}; rebuilding it")
            rebuild = True
        if entry is not None and not expired:
            return self._stored(node, entry)
        family = family_key(start, self.planner.facts, node.deps)  # only a miss needs it
        if not rebuild and satisfying:
            hit = self._satisfying(start, node, family)
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
            replaced = self.cache.lookup(node.alias, node.key) if rebuild else None
            path, leftover = self.cache.prepare(node.alias, node.key)
            if leftover and replaced is not None and not expired:
                self.reporter.note(
                    f"rebuilding the cache entry of {node.alias} (--new): {leftover}"
                )
            elif leftover:
                self.reporter.warning(
                    f"removed an incomplete cache entry of {node.alias} "
                    f"(an earlier build failed or was killed): {leftover}"
                )
            try:
                result = self._execute(start, node, state, path, planned, lookup)
            except BaseException:
                self.cache.discard(node.alias, node.key)
                raise
            record = {**strip(result.to_json()), "family": family, "tag_env": tag_env(start)}
            if start.expires_after is not None:
                record["expires"] = time.time() + start.expires_after
            try:
                self.cache.commit(
                    node.alias, node.key, record, self._provenance(start, node, result)
                )
            except OSError as exc:
                self.cache.discard(node.alias, node.key)  # no marker: nothing half-written
                raise CMSnakemakeError(
                    f"could not write the cache entry of {node.script} in {path}: "
                    f"{exc.strerror or exc}",
                    hint="Free some space (or raise the file-size limit) and run again; "
                    "the entry was removed, the rest of the cache is unaffected.",
                ) from None
            result.path = path
            return result

    def _provenance(self, start: Start, node: PlanNode, result: NodeResult) -> dict[str, Any]:
        return {
            "request": start.call.tags or str(start.call.query),
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

    def _execute(
        self,
        start: Start,
        node: PlanNode,
        state: dict[str, Any],
        cwd: str,
        planned: Sequence[StaticDep | ResidualDep] = (),
        lookup: Lookup | None = None,
    ) -> NodeResult:
        """CM's stage sequence for one node, in ``cwd``; ``planned`` dependencies' results
        come from ``lookup`` (default: the compiled plan's result files)."""
        started = time.monotonic()
        previous = os.getcwd()
        os.chdir(cwd)  # hooks read and write relative paths, as under CM (which chdirs too)
        try:
            result = ScriptRun(self, start, node, state, cwd, planned, lookup).execute()
        finally:
            os.chdir(previous)
        result.seconds = time.monotonic() - started
        return result
