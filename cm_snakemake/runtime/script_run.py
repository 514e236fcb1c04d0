"""One script run: CM's stage sequence for one prepared node, on live values.

:class:`ScriptRun` gets a :class:`~cm_snakemake.plan.prepare.Start` from the planner (CM's
phases before the dependencies, already done) and runs the rest in the node's folder
(docs/cm-behaviour.md §3.9)::

    predeps (MLC) → deps → preprocess → prehook_deps → native script
    → posthook_deps → postprocess → post_deps → exports (new_env_keys/new_state_keys)

Each dependency is decided with the planner's rule (:func:`~cm_snakemake.plan.deps.decide`)
on the live env and run through the runtime; a static dependency of a planned job is taken
from its result file instead. The live env is a plain dict; it becomes a planning env
(:func:`~cm_snakemake.plan.penv.live_env`) only to ask the shared rules.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .._util.frozen import thaw
from .._util.secretenv import HIDDEN, is_secret
from ..errors import CMSnakemakeError, ScriptFailed
from ..meta.build import dep_from_raw
from ..meta.model import DEP_LISTS, dep_to_raw
from ..plan.calls import PlanError, root_call
from ..plan.deps import Child, Dropped, after_child, decide
from ..plan.merge import merge_dicts
from ..plan.model import StaticDep
from ..plan.penv import live_env, plain_env
from ..plan.prepare import impose_const
from . import hooks
from .exports import select_keys
from .installs import python_install_lock
from .native import (
    ENV_OUT,
    TimedOut,
    explain_missing_script,
    read_run_state,
    run_native,
    select_native_script,
)
from .result import NodeResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..plan.model import PlanNode, ResidualDep
    from ..plan.prepare import Start
    from .runner import Runtime

__all__ = ["ScriptRun"]

_TMP_FILES = ("tmp-run-state.json", "tmp-run-env.out", "tmp-ver.out", "tmp-env.sh",
              "tmp-env-all.sh", "tmp-state.json", "tmp-run.sh")  # fmt: skip


def _merge_into(target: dict[str, Any], values: dict[str, Any]) -> None:
    """Exports into the live env or state: CM's rule (lists appended, without repeats)."""
    merge_dicts(target, values, append_lists=True, append_unique=True)


class ScriptRun:
    """The live state of one script run: env, state, pending dependency lists."""

    def __init__(
        self,
        runtime: Runtime,
        start: Start,
        node: PlanNode,
        state: dict[str, Any],
        cwd: str,
        planned: Sequence[StaticDep | ResidualDep] = (),
        lookup: Callable[[str], NodeResult | None] | None = None,
    ) -> None:
        self.runtime = runtime
        # where the planned dependencies' results are: the compiled plan's result files, or
        # (``lookup``) a nested Snakemake run's, where one missing is run here instead
        self.lookup = lookup
        self.start = start
        self.call = start.call
        self.node = node
        self.state = state
        self.cwd = cwd
        self.meta = start.meta
        self.lists = dict(start.lists)  # hooks may edit the dependency lists of i['meta']
        variations = ",".join(f"_{v}" for v in node.variations)
        self.name = f"{node.script} {variations}" if variations else node.script
        self.deps_run: list[str] = []
        self.customize: Any = None  # imported when CM imports it (docs/cm-behaviour.md §8.6)
        self.raw_meta = self._raw_meta()
        self.rsi: dict[str, Any] = {}
        self.planned: list[StaticDep | ResidualDep] = list(planned)
        self.version = ""
        self.extra_cache_tags: list[str] = []
        self._nested_error: CMSnakemakeError | None = None  # of a hook's nested run

    # -- the i dict and the live meta -------------------------------------------------------

    def _raw_meta(self) -> dict[str, Any]:
        from ..meta.model import to_jsonable

        raw: dict[str, Any] = to_jsonable(self.meta)
        for name in DEP_LISTS:
            raw[name] = [dep_to_raw(d) for d in self.lists[name]]
        return raw

    def _sync_lists(self) -> None:
        """Hooks may edit ``i['meta']`` dep lists (directly or with ``update_deps``)."""
        for name in DEP_LISTS:
            self.lists[name] = tuple(dep_from_raw(d) for d in self.raw_meta[name])

    @property
    def env(self) -> dict[str, Any]:
        return self._env

    def _paths(self) -> hooks.HookPaths:
        return hooks.HookPaths.of(self.meta.path, self.start.mlc, self._env.get("+PYTHONPATH"))

    def _import_customize(self) -> Any:
        """Import ``customize.py`` with the ``sys.path`` of this point of the run."""
        self.customize = hooks.load_customize(self.meta.path, self.name, self._paths())
        self.automation.customize = self.customize
        return self.customize

    def _hook_input(self) -> dict[str, Any]:
        inputs = thaw(self.call.inputs)
        inputs.setdefault("run_state", self.rsi["run_state"])
        inputs.setdefault("const", thaw(self.start.const))
        inputs.setdefault("const_state", thaw(self.start.const_state))
        return {
            "env": self._env,
            "state": self.state,
            "const": thaw(self.start.const),
            "const_state": thaw(self.start.const_state),
            "meta": self.raw_meta,
            "input": inputs,
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
        self._env: dict[str, Any] = plain_env(self.start.env())
        if self.start.warnings:  # as CM and MLC: before a run that is not a cache hit
            self.runtime.reporter.warning(
                f"{self.name}: " + "\n  ".join(["WARNINGS:", *self.start.warnings])
            )
        self._set_tmp_paths()
        _merge_into(self.state, thaw(self.start.state))
        _merge_into(self.state, thaw(self.start.const_state))
        self.rsi.update(
            {
                "path": self.meta.path,
                "bat_ext": self.runtime.os_info["bat_ext"],
                "os_info": self.runtime.os_info,
                "const": thaw(self.start.const),
                "state": self.state,
                "meta": self.raw_meta,
                "script_name": None,
                "tmp_file_run_state": "tmp-run-state.json",
                "tmp_file_run_env": ENV_OUT,
                "tmp_file_ver": "tmp-ver.out",
                "tmp_file_state": "tmp-state.json",
                "local_env_keys": list(self.meta.local_env_keys),
                "recursion_spaces": "  ",
                "add_deps_recursive": thaw(self.start.adr),
                "posthook_deps": self.raw_meta["posthook_deps"],
                "variation_tags_string": self.start.resolved.tags,
                "run_state": {
                    "script_id": self.meta.ident,
                    "script_tags": list(self.meta.tags),
                    "script_variation_tags": list(self.call.query.variations),
                    "version_info": self.runtime.version_info,
                    "parent": self.runtime.parents[-1] if self.runtime.parents else None,
                },
            }
        )
        from .access import HookAccess
        from .automation import ScriptAutomation
        from .compat import cmind as compat_cmind

        self.automation = ScriptAutomation(
            script=self.name,
            script_dir=self.meta.path,
            prefix=self.start.prefix,
            cwd=self.cwd,
            customize=self.customize,
            hook_input=self._hook_input,
            script_prefix=lambda: list(self.state.get("script_prefix", [])),
        )
        self.access = HookAccess(self.runtime.provider.index, self._nested_run, self.runtime.cache)
        self.automation.access = self.access
        token = compat_cmind.CURRENT_RUNNER.set(self.access)
        explicit = list(self.call.query.variations)
        self.runtime.parents.append(
            self.meta.ident + (f" ( {',_'.join(explicit)} )" if explicit else "")
        )
        try:
            return self._stages()
        finally:
            self.runtime.parents.pop()
            compat_cmind.CURRENT_RUNNER.reset(token)

    def _impose_const(self) -> None:
        env = live_env(self._env)
        impose_const(env, self.start.const)
        self._env = plain_env(env)

    def _set_tmp_paths(self) -> None:
        """The ``*_TMP_*`` paths CM sets before the dependencies (they are local keys: the
        dependencies do not see them, docs/cm-behaviour.md §8.6)."""
        prefix, entry = self.start.prefix, self.start.entry
        repo = self.runtime.provider.index.repository(entry)
        self._env[f"{prefix}TMP_CURRENT_PATH"] = self.runtime.workdir
        self._env[f"{prefix}TMP_CURRENT_SCRIPT_REPO_PATH"] = repo.root
        self._env[f"{prefix}TMP_CURRENT_SCRIPT_REPO_PATH_WITH_PREFIX"] = (
            os.path.join(repo.root, repo.prefix) if repo.prefix else repo.root
        )
        self._env[f"{prefix}TMP_CURRENT_SCRIPT_PATH"] = self.meta.path

    def _pip_version_string(self) -> None:
        """``*_TMP_PIP_VERSION_STRING`` from the version constraints, after the dependencies
        (``==V``, ``>=MIN,<=MAX``, ``>=MIN`` or ``<=MAX``), as CM and MLC build it."""
        prefix = self.start.prefix
        wanted, low, high = (
            str(self._env.get(f"{prefix}VERSION{s}", "") or "") for s in ("", "_MIN", "_MAX")
        )
        if wanted:
            text = f"=={wanted}"
        elif low and high:
            text = f">={low},<={high}"
        else:
            text = f">={low}" if low else (f"<={high}" if high else "")
        self._env[f"{prefix}TMP_PIP_VERSION_STRING"] = text

    def _stages(self) -> NodeResult:
        if self.meta.predeps and self._import_customize() is not None:
            self._hook("predeps")
        self._deps("deps")
        self._clean(self.meta.clean_files)
        self._import_customize()  # again: the dependencies may have extended sys.path
        self._pip_version_string()
        bundle = self.runtime.offline
        if bundle is not None:  # a download, clone or pip install comes from the bundle
            bundle.apply(self.node.key, self.meta.alias, self._env, self.node.versions,
                         self.start.prefix)  # fmt: skip
        with python_install_lock(self.meta.alias, self._env, self.start.prefix,
                                 self.runtime.cache.root,
                                 on_wait=lambda why: self.runtime.reporter.stage(
                                     self.meta.alias, why)):  # fmt: skip
            if self.customize is not None:
                self._impose_const()
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
        self._nested_error = None
        try:
            result = hooks.call_hook(
                self.customize, name, self._hook_input(), self.name, self._paths()
            )
        except ScriptFailed as exc:
            if self._nested_error is not None and exc.__cause__ is None:
                raise exc from self._nested_error  # the nested run's own error stays reachable
            raise
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
            return NodeResult(
                self.node.key,
                self.node.script,
                dict(other.new_env),
                dict(other.new_state),
                other.version,
                path=self.cwd,
                deps=[*self.deps_run, tags],
            )
        return NodeResult(
            self.node.key, self.node.script, {}, {}, path=self.cwd, deps=self.deps_run, skipped=True
        )

    def _deps(self, list_name: str) -> None:
        for dep in list(self.lists[list_name]):
            if not dep.tags:
                continue
            decision = decide(self.start, list_name, dep, live_env(self._env), ())
            if isinstance(decision, Dropped):
                continue
            if not isinstance(decision, Child):  # cannot happen with every value known
                raise PlanError(f"{self.name}: {list_name} '{dep.tags}': {decision.reason}")
            self.runtime.reporter.stage(self.meta.alias, f"{list_name} {decision.tags}")
            result = self._planned_result(list_name, dep.tags)
            if result is None:
                # where the process is now, as in CM: a hook may have changed folder
                # (app-mlperf-inference's postprocess moves into the results folder)
                result = self.runtime.run_call(decision.call, state=self.state, cwd=os.getcwd())
            self.deps_run.append(decision.tags)
            _merge_into(self._env, result.new_env)
            _merge_into(self.state, result.new_state)
            env = live_env(self._env)
            after_child(env, decision.hidden, self.start.const)
            self._env = plain_env(env)

    def _planned_result(self, list_name: str, tags: str) -> NodeResult | None:
        """The result of the planned static dependency at this point, if the plan has one."""
        for i, dep in enumerate(self.planned):
            declared = (dep.declared or dep.tags) if isinstance(dep, StaticDep) else dep.tags
            if dep.list != list_name or declared != tags:
                continue
            del self.planned[i]
            if not isinstance(dep, StaticDep) or dep.inline:  # decided and run here
                return None
            key = dep.key
            if self.lookup is not None:
                return self.lookup(key)
            found = self.runtime.planned_result(key)
            if found is None:
                raise ScriptFailed(
                    self.name,
                    list_name,
                    f"the result of dependency '{dep.tags}' ({key[:12]}) is missing",
                    hint="Run the workflow through Snakemake, which runs dependencies first.",
                )
            return found
        return None

    def _native(self) -> None:
        start = self.start
        base = self.rsi.get("script_name") or start.script_name or "run"
        script = select_native_script(
            Path(self.meta.path), str(base), self._env, env_prefix=start.prefix
        )
        if script is None:
            missing = explain_missing_script(
                Path(self.meta.path),
                str(base),
                self._env,
                env_prefix=start.prefix,
                named=bool(self.rsi.get("script_name") or start.script_name),
            )
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
        self._impose_const()
        self._env.setdefault("CMSM_PYTHON", sys.executable)  # the Python running cm-snakemake
        self._env[f"{start.prefix}TMP_CURRENT_SCRIPT_PATH"] = self.meta.path
        self._env[f"{start.prefix}TMP_CURRENT_SCRIPT_WORK_PATH"] = self.cwd
        work = Path(self.cwd)
        for name in (ENV_OUT, "tmp-run-state.json"):
            if os.path.exists(work / name):
                os.remove(work / name)
        with open(work / "tmp-state.json", "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, default=str)
        self.runtime.reporter.stage(self.meta.alias, f"run {script.name}")
        limit = self.runtime.time_limit(self.node)
        try:
            done = run_native(
                work,
                self._env,
                script,
                timeout=limit,
                script_prefix=self.state.get("script_prefix", []),
            )
        except TimedOut:
            raise ScriptFailed(
                self.name,
                f"native script {script.name}",
                f"it ran longer than its time limit of {(limit or 0) / 60:g} min and was "
                f"stopped (in {self.cwd})",
                hint="The limit is resources.timeout (minutes) in the script's meta, or "
                "--timeout=MIN (Snakemake: the cm_timeout resource, e.g. --set-resources "
                "RULE:cm_timeout=MIN, or config cm_timeout in the profile). Raise it if "
                "the script needs longer.",
            ) from None
        if done.code != 0:
            self._print_error_files()
            raise ScriptFailed(
                self.name,
                f"native script {script.name}",
                f"it failed in {self.cwd}",
                returncode=done.code,
                hint="The script's output is above.",
            )
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
        self._impose_const()
        prefix = self.start.prefix
        new_env = select_keys(self._env, list(self.start.export_patterns()))
        new_state = select_keys(self.state, list(self.start.new_state_keys))
        version = (
            self.version
            or str(self._env.get(f"{prefix}DETECTED_VERSION", ""))
            or str(self._env.get(f"{prefix}VERSION", ""))
        )
        for key, label in self.meta.print_env_at_the_end.items():
            if key in new_env:
                shown = HIDDEN if is_secret(key) else new_env[key]
                self.runtime.reporter.info(f"{label}: {shown}")
        if not self.node.cached:
            self._clean(self.meta.clean_files)
        return NodeResult(
            self.node.key,
            self.node.script,
            new_env,
            new_state,
            version,
            False,
            self.cwd,
            self.deps_run,
            extra_cache_tags=self.extra_cache_tags,
        )

    # -- nested runs from customize.py -------------------------------------------------------

    def _nested_run(self, i: dict[str, Any]) -> dict[str, Any]:
        """``cmind.access({'action': 'run', 'automation': 'script', ...})`` from a hook."""
        tags = str(i.get("tags", ""))
        env = i.get("env")
        state = i.get("state") if isinstance(i.get("state"), dict) else self.state
        inputs = {
            k: v
            for k, v in i.items()
            if k
            not in {
                "action",
                "automation",
                "tags",
                "env",
                "state",
                "quiet",
                "silent",
                "verbose",
                "out",
                "artifact",
            }
        }
        live = {k: v for k, v in dict(env or {}).items()}
        call = root_call(tags, {**inputs, "env": live}, artifact=i.get("artifact"))
        try:
            result = self.runtime.run_call(call, state=state, cwd=self.cwd)  # type: ignore[arg-type]
        except CMSnakemakeError as exc:  # CM's hooks expect a return code, not an exception
            self._nested_error = exc
            return {"return": exc.exit_code or 1, "error": exc.render()}
        if isinstance(env, dict):
            _merge_into(env, result.new_env)
        return {
            "return": 0,
            "new_env": result.new_env,
            "new_state": result.new_state,
            "env": env,
            "state": state,
            "deps": result.deps,
        }


class _Artifact:
    """``i['artifact']``: the script folder and meta."""

    def __init__(self, path: str, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.repo_path = os.path.dirname(os.path.dirname(path))
