"""A sequential runner for plain scripts: deps, native script, export.

It runs, for real and in CM's order, scripts that need no planning: no variations, no
``customize.py`` hooks, no version constraints and unconditional dependencies. That covers
the bundled detection scripts. Anything else is refused with a message that names the
script and the feature, rather than run with the wrong semantics.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ScriptFailed, UsageError
from ..meta import DEP_LISTS, DepSpec, EnvValue, ScriptMeta
from ..reporting import NullReporter, Reporter
from ..search import select_script
from ..tags import TagQuery
from .exports import select_keys
from .native import ENV_OUT, read_env_out, run_wrapper, select_native_script, write_wrapper

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..index import ScriptEntry, ScriptIndex

__all__ = ["RunResult", "SimpleRunner"]


@dataclass(slots=True)
class RunResult:
    """What one script run returns to its caller."""

    script: str
    new_env: dict[str, EnvValue]
    deps: list[str] = field(default_factory=list)


def _unsupported(meta: ScriptMeta, query: TagQuery) -> str | None:
    if query.variations or query.excluded or meta.variations:
        return "variations"
    if (Path(meta.path) / "customize.py").is_file():
        return "customize.py hooks"
    if meta.version or meta.version_min or meta.version_max or meta.default_version:
        return "version constraints"
    for name in DEP_LISTS:
        for dep in getattr(meta, name):
            plain = DepSpec(tags=dep.tags, names=dep.names, env=dep.env)
            if plain != dep:
                return f"conditional or patched dependencies ('{dep.tags}' in {name})"
    return None


class SimpleRunner:
    """Runs one request and its dependencies in this process, one script at a time."""

    def __init__(self, index: ScriptIndex, *, reporter: Reporter | None = None) -> None:
        self.index = index
        self.reporter = reporter or NullReporter()

    def run(self, entry: ScriptEntry, query: TagQuery, inputs: Mapping[str, Any]) -> RunResult:
        """Run the script ``entry`` (selected by ``query``) with ``inputs`` (CLI flags)."""
        env = {k: str(v) for k, v in dict(inputs.get("env") or {}).items()}
        return self._run(entry, query, dict(inputs), env)

    def _run(
        self, entry: ScriptEntry, query: TagQuery, inputs: dict[str, Any], env: dict[str, Any]
    ) -> RunResult:
        meta = self.index.meta(entry)
        feature = _unsupported(meta, query)
        if feature is not None:
            raise UsageError(
                f"'{entry.name}' uses {feature}, which this command cannot run yet",
                hint="This version runs scripts without variations, customize.py hooks, "
                "version constraints or conditional dependencies (the bundled detection "
                "scripts, for example).",
            )
        saved = dict(env)
        for key, value in meta.default_env.items():
            env.setdefault(key, value)
        env.update(meta.env)
        for key, env_key in meta.input_mapping.items():
            if key in inputs:
                env[env_key] = str(inputs[key])
        env.update(meta.const)
        result = RunResult(entry.name, {})
        self._deps(meta, "deps", env, result)
        self._deps(meta, "prehook_deps", env, result)
        self._native(entry.name, meta, env)
        self._deps(meta, "posthook_deps", env, result)
        self._deps(meta, "post_deps", env, result)
        result.new_env = select_keys(env, meta.new_env_keys)
        env.clear()
        env.update(saved)
        env.update(result.new_env)
        return result

    def _deps(self, meta: ScriptMeta, name: str, env: dict[str, Any], result: RunResult) -> None:
        for dep in getattr(meta, name):
            if not dep.tags:
                continue
            self.reporter.stage(meta.alias, f"{name}: {dep.tags}")
            child_env = {**env, **dep.env}
            query = TagQuery.parse(dep.tags)
            entry = select_script(self.index, query, reporter=self.reporter)
            child = self._run(entry, query, dict(dep.inputs), child_env)
            env.update(child.new_env)
            result.deps.append(dep.tags)

    def _native(self, name: str, meta: ScriptMeta, env: dict[str, Any]) -> None:
        script = select_native_script(
            Path(meta.path), meta.script_name or "run", env, env_prefix=meta.dialect.env_prefix
        )
        if script is None:
            if meta.script_name:
                raise ScriptFailed(name, "run", f"native script '{meta.script_name}' not found")
            return
        self.reporter.stage(meta.alias, f"run {script.name}")
        with tempfile.TemporaryDirectory(prefix="cmsm-run-") as tmp:
            workdir = Path(tmp)
            _, skipped = write_wrapper(workdir, env, script)
            for key in skipped:
                self.reporter.warning(f"{name}: env key '{key}' is not a shell name; not exported")
            code = run_wrapper(workdir)
            if code != 0:
                raise ScriptFailed(name, f"native script {script.name}", "it failed",
                                   returncode=code)  # fmt: skip
            values, bad = read_env_out(workdir / ENV_OUT)
            for line in bad:
                self.reporter.warning(f"{name}: {ENV_OUT}: line without '=' ignored: {line!r}")
            env.update(values)
