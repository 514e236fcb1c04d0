"""The planner: CM's resolution semantics as partial evaluation, producing a :class:`Plan`.

``Planner(provider).plan(request, inputs)`` walks the request the way CM's ``_run`` would
(cm-semantics §3): script selection, base meta into env, variations, versions, input-level
patches, then each dependency list in order. It does no file, process or environment access:
scripts, metas and file scans come from the ``provider``; host facts are passed in.

Every env value is known or :class:`~cm_snakemake.plan.penv.Unknown`. A dependency whose condition
and tags are known to hold becomes its own node (a DAG edge); one known not to hold is
dropped; one that depends on an unknown value stays in its parent as a residual dependency for
the runtime to decide exactly as CM would. Writes that only run time can make (``preprocess``,
the native script, ``postprocess``, residual dependencies) turn the keys they may write into
unknowns, as reported by the provider's scan of the script's files.

Outline of one node (:meth:`Planner._plan_node`)::

    select script (tags, sort, alternatives recorded)
    env: received env + input flags → default_env → env → input_mapping (also const) → const
    variations: resolve → apply each (env, const, deps, ad, input_mapping, exports, adr)
    versions: input > env > meta; versions[v]; default_version clamped
    patches: input ad, then the accumulated adr, on the four lists
    deps → preprocess → prehook_deps → native script → posthook_deps → postprocess → post_deps
    exports: new_env_keys over the final env
    key: script digests, variations, versions, read env, const, dependency keys, facts
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._util.frozen import FrozenMap, freeze, thaw
from .._util.reporting import NullReporter, Reporter
from ..errors import CMSnakemakeError
from ..meta.model import DEP_LISTS, DepSpec, Patch, ScriptMeta, dep_to_raw
from ..meta.tags import TagQuery, split_tags
from .conditions import Tri, dep_enabled
from .deplists import append_deps, patch_deps
from .model import Plan, PlanNode, ResidualDep, StaticDep, env_to_json, hash_json
from .penv import PEnv, PValue, Unknown, expand
from .variations import ResolvedVariations, applied_metas, resolve_variations
from .versions import VersionRequest, clamp_default

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..index.scan import ScriptScan
    from ..index.scripts import ScriptEntry

__all__ = ["CycleError", "PlanError", "Planner", "ScriptProvider"]

_MAX_DEPTH = 64
_INPUT_FLAG_KEYS = ("input", "output", "outdirname", "outbasename", "name", "extra_cache_tags",
                    "skip_compile", "skip_run", "accept_license", "skip_system_deps",
                    "git_ssh", "gh_token")  # fmt: skip
_LOCAL_SUFFIXES = ("VERSION", "VERSION_MIN", "VERSION_MAX", "VERSION_MAX_USABLE",
                   "DETECTED_VERSION", "INPUT", "OUTPUT", "OUTBASENAME", "OUTDIRNAME", "NAME",
                   "EXTRA_CACHE_TAGS", "RENEW_CACHE_ENTRY")  # fmt: skip
_VERSION_FIELDS = ("version", "version_min", "version_max", "version_max_usable")
_ENGINE_INPUTS = {"env", "const", "state", "const_state", "add_deps", "add_deps_recursive",
                  "ad", "adr", "tags", "names", *_VERSION_FIELDS}  # fmt: skip


class PlanError(CMSnakemakeError):
    """A request cannot be planned; the message names the script and the dependency path."""


class CycleError(PlanError):
    """A dependency cycle; ``cycle`` is the path of scripts that repeats."""

    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__(
            "dependency cycle: " + " -> ".join(cycle),
            hint="A script depends on itself with the same variations; break the loop with a "
            "condition or different variations.",
        )
        self.cycle = tuple(cycle)


class ScriptProvider(Protocol):
    """Where domain facts enter the planner: scripts, their metas and their file scans."""

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]: ...

    def meta(self, entry: ScriptEntry) -> ScriptMeta: ...

    def scan(self, entry: ScriptEntry) -> ScriptScan: ...


@dataclass
class _Call:
    """The input of one script run, as CM builds it for a dependency (§3.11 step 9)."""

    query: TagQuery
    env: PEnv
    const: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    adr: dict[str, Any] = field(default_factory=dict)
    ad: dict[str, Any] = field(default_factory=dict)
    why: str = "the request"
    path: tuple[str, ...] = ()
    local_env: dict[str, Any] = field(default_factory=dict)
    artifact: str | None = None
    tags: str = ""


@dataclass
class _Exports:
    """What a planned node returns to its caller's env."""

    known: dict[str, PValue] = field(default_factory=dict)
    unknown: list[tuple[str, Unknown]] = field(default_factory=list)

    def apply(self, env: PEnv) -> None:
        """Merge into the caller's env as CM does: list values (``+PATH``) are appended."""
        for pattern, unknown in self.unknown:
            env.write_unknown(pattern, unknown)
        for key, value in self.known.items():
            old = env.get(key)
            if isinstance(value, tuple) and isinstance(old, tuple):
                env.set(key, (*old, *(v for v in value if v not in old)))
            else:
                env.set(key, value)


def _is_wild(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class Planner:
    """Plans requests against a provider. One instance can plan many requests."""

    def __init__(
        self,
        provider: ScriptProvider,
        *,
        facts: Mapping[str, Mapping[str, str]] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.provider = provider
        self.facts = {k: dict(v) for k, v in (facts or {}).items()}
        self.reporter = reporter or NullReporter()
        self._nodes: dict[str, PlanNode] = {}
        self._exports: dict[str, _Exports] = {}
        self._memo: dict[tuple[object, ...], tuple[str, _Exports]] = {}
        self._notes: list[str] = []

    # -- public ------------------------------------------------------------------------------

    def plan(
        self,
        request: str | TagQuery,
        inputs: Mapping[str, Any] | None = None,
        *,
        artifact: str | None = None,
    ) -> Plan:
        """Plan ``request`` (tags, and/or an ``artifact`` such as ``repo:alias``) with CLI-style
        ``inputs`` (``env``, ``adr``, versions, ...)."""
        call = root_call(request, inputs, artifact=artifact)
        self._nodes = {}
        self._exports = {}
        self._memo = {}
        self._notes = []
        root, _ = self._plan_node(call)
        return Plan(
            request=" ".join(p for p in (artifact, str(call.query)) if p),
            root=root,
            nodes=FrozenMap(self._nodes),
            facts=freeze(self.facts),
            notes=tuple(self._notes),
        )

    @property
    def nodes(self) -> dict[str, PlanNode]:
        """The nodes planned so far (by key)."""
        return self._nodes

    def plan_call(self, call: _Call) -> PlanNode:
        """Plan one call (and its subtree) within the current plan; return its node."""
        key, _ = self._plan_node(call)
        return self._nodes[key]

    def node_state(self, call: _Call) -> NodeState:
        """The state of one call after CM's phases before its dependencies (§3.4 to §3.9)."""
        entry, _ = self._select(call)
        return NodeState(self, call, entry, self.provider.meta(entry), self.provider.scan(entry))

    # -- one node ----------------------------------------------------------------------------

    def _select(self, call: _Call) -> tuple[ScriptEntry, list[ScriptEntry]]:
        found = self.provider.find(call.query, call.artifact)
        return found[0], found[1:]

    def _plan_node(self, call: _Call) -> tuple[str, _Exports]:
        """Plan one call; the same call (same tags and inputs) is planned once per plan.

        Planning is a pure function of the call, so a repeated call reuses the first result
        and only adds its reason. (A cycle through a repeated call would have been found the
        first time: the call would then have been in its own subtree.)
        """
        memo_key = _call_key(call)
        found = self._memo.get(memo_key)
        if found is not None:
            key, exports = found
            self._nodes[key] = _with_why(self._nodes[key], call.why)
            return key, exports
        key, exports = self._plan_new_node(call, f"{hash(memo_key) & 0xFFFFFFFF:08x}")
        self._memo[memo_key] = (key, exports)
        return key, exports

    def _plan_new_node(self, call: _Call, call_id: str) -> tuple[str, _Exports]:
        entry, others = self._select(call)
        meta = self.provider.meta(entry)
        scan = self.provider.scan(entry)
        builder = NodeState(self, call, entry, meta, scan)
        # A cycle is the same call (script, variations, inputs and env) inside itself: the
        # same script may well appear again with a different env (CM's get-gcc post_deps
        # get-compiler-flags, which then skips get,compiler).
        identity = f"{entry.name}({builder.resolved.tags})#{call_id}"
        if identity in call.path:
            loop = [*call.path[call.path.index(identity) :], identity]
            raise CycleError([step.split("#")[0] for step in loop])
        if len(call.path) >= _MAX_DEPTH:
            raise PlanError(f"dependencies nest deeper than {_MAX_DEPTH}: {' -> '.join(call.path)}")
        builder.run_lists([*call.path, identity])
        node = builder.node(others)
        existing = self._nodes.get(node.key)
        if existing is not None:
            node = _with_why(existing, call.why)
        self._nodes[node.key] = node
        exports = builder.exports(node.key)
        self._exports[node.key] = exports
        return node.key, exports


def root_call(
    request: str | TagQuery, inputs: Mapping[str, Any] | None = None, *, artifact: str | None = None
) -> _Call:
    """The call for a top-level request with CLI-style inputs (``env``, ``const``, ``adr``...)."""
    query = request if isinstance(request, TagQuery) else TagQuery.parse(request)
    inputs = dict(inputs or {})
    env = PEnv({k: _env_text(v) for k, v in _mapping_input(inputs, "env").items()})
    const = {k: _env_text(v) for k, v in _mapping_input(inputs, "const").items()}
    env.update(const)
    adr = thaw(_mapping_input(inputs, "adr") or _mapping_input(inputs, "add_deps_recursive"))
    ad = thaw(_mapping_input(inputs, "ad") or _mapping_input(inputs, "add_deps"))
    return _Call(query, env, const, inputs, adr, ad, artifact=artifact)


def _mapping_input(inputs: dict[str, Any], name: str) -> Mapping[str, Any]:
    """Take input ``name``, which must be a mapping (``--env.KEY=V``, ``--adr.NAME.KEY=V``)."""
    value = inputs.pop(name, None)
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise PlanError(f"input '{name}' must be a mapping of names to values, not {value!r:.60}",
                        hint=f"Give it as --{name}.NAME=VALUE.")  # fmt: skip
    return value


def planned_call(node: PlanNode) -> _Call:
    """The call that runs ``node`` as planned: its script, full variation list, versions,
    inputs, const, patches and the known part of the env it receives."""
    env = PEnv({k: tuple(v) if isinstance(v, list) else v for k, v in node.env.items()
                if not isinstance(v, Mapping)})  # fmt: skip
    inputs = {**thaw(node.inputs), **thaw(node.versions)}
    return _Call(TagQuery(variations=node.variations), env, thaw(node.const), inputs,
                 thaw(node.add_deps_recursive), thaw(node.add_deps), why="a planned job",
                 artifact=node.script)  # fmt: skip


def _call_key(call: _Call) -> tuple[object, ...]:
    """Everything a call's plan depends on, hashable (the reason and path are not part)."""
    return (
        str(call.query),
        call.artifact,
        frozenset(call.env.items()),
        call.env.wildcards,
        freeze(call.const),
        freeze(call.inputs),
        freeze(call.adr),
        freeze(call.ad),
        freeze(call.local_env),
    )


def _env_text(value: Any) -> PValue:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _with_why(node: PlanNode, why: str) -> PlanNode:
    if why in node.why:
        return node
    from dataclasses import replace

    return replace(node, why=(*node.why, why))


class NodeState:
    """The mutable state of planning one node; :meth:`node` freezes it into a PlanNode."""

    def __init__(
        self, planner: Planner, call: _Call, entry: ScriptEntry, meta: ScriptMeta, scan: ScriptScan
    ) -> None:
        self.planner = planner
        self.call = call
        self.entry = entry
        self.meta = meta
        self.scan = scan
        self.prefix = meta.dialect.env_prefix
        self.mlc = meta.dialect == "mlc"
        self.received = call.env.copy()
        self.env = call.env.copy()
        self.const: dict[str, Any] = dict(call.const)
        self.lists: dict[str, tuple[DepSpec, ...]] = {n: getattr(meta, n) for n in DEP_LISTS}
        self.adr: dict[str, Any] = thaw(call.adr)
        self.new_env_keys: list[str] = list(meta.new_env_keys)
        self.script_name = meta.script_name
        self.default_version = meta.default_version
        self.deps: list[StaticDep | ResidualDep] = []
        self.meta_if_env: list[Any] = list(meta.update_meta_if_env)
        self.resources: dict[str, str] = dict(meta.resources)
        self.facts_used: list[str] = []
        self.seed = ""
        self._base_env()
        self.resolved = self._variations()
        self.versions = self._versions()
        self._input_patches()
        self.cached = self._cached()
        self._default_version()
        self.resolved_env = dict(self.env.items())

    # -- phases before the dependencies ------------------------------------------------------

    def _set(self, key: str, value: Any) -> None:
        self.env.set(key, _env_text(value) if not isinstance(value, Unknown) else value)

    def _impose_const(self) -> None:
        self.env.update({k: _env_text(v) for k, v in self.const.items()})

    def _expand_env(self) -> None:
        for key, value in self.env.items():
            if isinstance(value, str) and "<<<" in value:
                self.env.set(key, expand(value, self.env))

    def _base_env(self) -> None:
        inputs = self.call.inputs
        if "path" in inputs:
            self._set(f"{self.prefix}TMP_PATH", inputs["path"])
        for name in _INPUT_FLAG_KEYS:
            if name in inputs:
                self._set(f"{self.prefix}{name.upper()}", inputs[name])
        self._expand_env()
        for key, value in self.meta.default_env.items():
            self.env.setdefault(key, value)
        self.env.update(self.meta.env)
        for name, env_key in self.meta.input_mapping.items():
            if name in inputs:
                self._set(env_key, inputs[name])
                self.const[env_key] = _env_text(inputs[name])
        self._impose_const()
        self._update_meta_if_env()

    def _apply_patch(self, patch: Patch, what: str) -> None:
        """CM's ``update_state_from_meta`` for a variation or version sub-meta."""
        for key, value in patch.default_env.items():
            self.env.setdefault(key, value)
        self.env.update(patch.env)
        self.meta_if_env += patch.update_meta_if_env
        self._update_meta_if_env()
        self.resources.update(patch.resources)
        if patch.const:
            self.const.update(patch.const)
            self._impose_const()
        for name in DEP_LISTS:
            added = getattr(patch, name)
            if added:
                self.lists[name] = append_deps(self.lists[name], added)
        if patch.add_deps:
            self.lists, unmatched = patch_deps(self.lists, patch.add_deps, self.env)
            if unmatched:
                raise PlanError(
                    f"script '{self.meta.alias}': {what} patches dependency name(s) "
                    f"{', '.join(unmatched)}, which no dependency has"
                )
        for name, env_key in patch.input_mapping.items():
            if name in self.call.inputs:
                self._set(env_key, self.call.inputs[name])
        self._expand_env()
        self.new_env_keys += [k for k in patch.new_env_keys if k not in self.new_env_keys]
        if patch.script_name:
            self.script_name = patch.script_name
        if patch.default_version:
            self.default_version = patch.default_version
        _merge_adr(self.adr, patch.add_deps_recursive)

    def _update_meta_if_env(self) -> None:
        """Re-evaluate the accumulated ``update_meta_if_env`` patches against the env.

        A patch whose condition holds applies its env; one whose condition is unknown makes
        the keys it would set unknown (only run time knows whether they change).
        """
        from ..meta.model import dep_from_raw

        for item in self.meta_if_env:
            if not isinstance(item, Mapping):
                continue
            conditions = {
                k: thaw(v) for k, v in item.items() if k.endswith(("_if_env", "_any_env"))
            }
            holds = dep_enabled(dep_from_raw({"tags": "x", **conditions}), self.env, mlc=self.mlc)
            env = {k: _env_text(v) for k, v in dict(item.get("env") or {}).items()}
            defaults = {k: _env_text(v) for k, v in dict(item.get("default_env") or {}).items()}
            if holds is Tri.TRUE:
                for key, value in defaults.items():
                    self.env.setdefault(key, value)
                self.env.update(env)
            elif holds is Tri.UNKNOWN:
                source = Unknown(f"update_meta_if_env of {self.meta.alias}")
                for key in [*env, *defaults]:
                    self.env.set(key, source)

    def _variations(self) -> ResolvedVariations:
        query = self.call.query
        resolved = resolve_variations(self.meta, query.variations, query.excluded)
        for tag, var in applied_metas(self.meta, resolved):
            self._apply_patch(var, f"variation '_{tag}'")
        return resolved

    def _versions(self) -> VersionRequest:
        values = {}
        for name in _VERSION_FIELDS:
            env_key = f"{self.prefix}{name.upper()}"
            current = self.env.get(env_key)
            value = self.call.inputs.get(name)
            if value is None and isinstance(current, str):
                value = current
            if value is None:
                value = getattr(self.meta, name)
            values[name] = "" if value is None else str(value)
            if values[name]:
                self._set(env_key, values[name])
        request = VersionRequest(**values)
        problem = request.impossible()
        if problem:
            raise PlanError(f"script '{self.meta.alias}': impossible version request: {problem}")
        if request.version and request.version in self.meta.versions:
            self._apply_patch(self.meta.versions[request.version], f"version '{request.version}'")
        return request

    def _default_version(self) -> None:
        """§3.9 step 1, after the input patches: the clamped ``default_version``."""
        if self.versions.version or not self.default_version:
            return
        request = self.versions
        chosen = clamp_default(self.default_version, request)
        self._set(f"{self.prefix}VERSION", chosen)
        sub = self.meta.versions.get(self.default_version)  # CM looks up the unclamped key
        if sub is not None:
            self._apply_patch(sub, f"version '{self.default_version}'")
        self.versions = VersionRequest(
            chosen, request.version_min, request.version_max, request.version_max_usable
        )

    def _input_patches(self) -> None:
        if self.call.ad:
            self.lists, unmatched = patch_deps(self.lists, self.call.ad, self.env)
            if unmatched:
                raise PlanError(
                    f"script '{self.meta.alias}': add_deps names {', '.join(unmatched)}, "
                    "which no dependency has"
                )
        if self.adr:
            self.lists, _ = patch_deps(self.lists, self.adr, self.env)
        self._expand_env()
        self._impose_const()

    def _cached(self) -> bool:
        inputs = self.call.inputs
        if self.meta.cache and not _truthy(inputs.get("skip_cache")):
            return True
        return bool(self.meta.can_force_cache and _truthy(inputs.get("force_cache")))

    # -- dependencies and run-time stages ----------------------------------------------------

    def run_lists(self, path: list[str]) -> None:
        """Plan the four lists in CM order, with the run-time stages between them."""
        self.seed = hash_json(self._identity(include_deps=False))
        if self.mlc and self.meta.predeps and self.scan.has_predeps:
            self._stage_writes("predeps")
        self._list("deps", path)
        if self.scan.has_preprocess:
            self._stage_writes("preprocess")
        self._impose_const()
        self._list("prehook_deps", path)
        if self._has_native():
            for old, new in self.meta.env_key_mappings.items():
                for key in self.env.matching(old + "*"):
                    value = self.env.get(key)
                    if value is not None:
                        self.env.set(new + key[len(old) :], value)
            self._native_writes()
        self._list("posthook_deps", path)
        if self.scan.has_postprocess:
            self._stage_writes("postprocess")
        self._list("post_deps", path)
        self._impose_const()

    def _has_native(self) -> bool:
        base = self.script_name or "run"
        return any(n.startswith(base) and n.endswith(".sh") for n in self.scan.native_scripts)

    def _facts(self) -> dict[str, str] | None:
        return self.planner.facts.get(self.meta.alias)

    def _native_writes(self) -> None:
        self._writes("native script", self.scan.native_writes, self.scan.native_writes_all)

    def _stage_writes(self, stage: str) -> None:
        self._writes(stage, *self.scan.writes(stage))

    def _writes(self, stage: str, keys: frozenset[str], all_keys: bool) -> None:
        """Keys a run-time stage may write become unknown; host facts fix what they cover."""
        facts = self._facts()
        if facts is not None:  # a stable source: the same on every path to this script
            source = Unknown(f"{self.meta.alias} on the target host (not in the facts)")
        else:
            source = Unknown(f"{stage} of {self.meta.alias} [{self.seed[:12]}]")
        if all_keys:
            self.env.write_unknown("*", source)
        for key in sorted(keys):
            self.env.set(key, source)
        if facts is not None:
            self.env.update(facts)
            self.facts_used = sorted(facts)

    def _local_keys(self, list_name: str) -> list[str]:
        if list_name == "post_deps":
            return list(self.meta.clean_env_keys_post_deps)
        p = self.prefix
        return [*(p + s for s in _LOCAL_SUFFIXES), f"{p}TMP_*", f"{p}GIT_*",
                *self.meta.local_env_keys]  # fmt: skip

    def _list(self, list_name: str, path: list[str]) -> None:
        for dep in self.lists[list_name]:
            if dep.tags:
                self._dep(list_name, dep, path)

    def child_call(
        self, list_name: str, dep: DepSpec, path: Sequence[str]
    ) -> tuple[_Call, dict[str, PValue]] | str | None:
        """How CM would call ``dep`` now (§3.11): None if it does not run; the reason if only
        run time can tell; else the child's call and the keys hidden from it, which
        :meth:`restore` puts back after the child returns."""
        enabled = dep_enabled(dep, self.env, mlc=self.mlc)
        if enabled is Tri.FALSE:
            return None
        if enabled is Tri.UNKNOWN:
            return self._why_unknown(dep)
        dep_env: dict[str, PValue] = {}
        for key, value in dep.env.items():
            dep_env[key] = expand(value, self.env) if isinstance(value, str) else value
        tags = self._dep_tags(dep, dep_env)
        if isinstance(tags, Unknown):
            return f"its tags use a value decided by {tags.source}"
        child_env = self.env.copy()
        hidden = self._hide_local_keys(list_name, dep, child_env)
        child_env.update(dep_env)
        child_env.update(dep.const)
        adr = thaw(self.adr)
        _merge_adr(adr, dep.add_deps_recursive)
        const = {**self.const, **{k: _env_text(v) for k, v in dep.const.items()}}
        why = f"{list_name} '{dep.tags}' of {self.entry.name}"
        if dep.names:
            why += f" (names: {','.join(dep.names)})"
        call = _Call(TagQuery.parse(tags), child_env, const, _child_inputs(dep), adr,
                     thaw(dep.add_deps), why, tuple(path), env_to_json(dep_env),
                     tags=tags)  # fmt: skip
        return call, hidden

    def _hide_local_keys(self, list_name: str, dep: DepSpec, child_env: PEnv) -> dict[str, PValue]:
        hidden: dict[str, PValue] = {}
        for pattern in self._local_keys(list_name):
            for name in child_env.matching(pattern) if _is_wild(pattern) else [pattern]:
                popped = child_env.pop(name)
                if popped is not None:
                    hidden[name] = popped
        for name, current in child_env.items():
            if isinstance(current, str) and "<<<" in current:
                hidden[name] = current
                child_env.pop(name)
        restore = [*dep.force_env_keys]
        if dep.reuse_version:
            restore.append(f"{self.prefix}VERSION*")
        for pattern in restore:
            for name, kept in hidden.items():
                if name == pattern or (_is_wild(pattern) and _glob(name, pattern)):
                    child_env.set(name, kept)
        return hidden

    def restore(self, hidden: Mapping[str, PValue]) -> None:
        """After a child returned: hidden keys back (they win, as in CM), placeholders, const."""
        self.env.update(hidden)
        self._expand_env()
        self._impose_const()

    def _dep(self, list_name: str, dep: DepSpec, path: list[str]) -> None:
        made = self.child_call(list_name, dep, path)
        if made is None:
            return
        if isinstance(made, str):
            self._residual(list_name, dep, made)
            return
        child, hidden = made
        try:
            key, exports = self.planner._plan_node(child)
        except CMSnakemakeError as exc:
            if isinstance(exc, CycleError):
                raise
            raise PlanError(f"{child.why}: {exc.message}", hint=exc.hint) from None
        self.deps.append(StaticDep(list_name, child.tags, key, dep.names, dep.tags, dep.dynamic))
        exports.apply(self.env)
        self.restore(hidden)

    def _dep_tags(self, dep: DepSpec, dep_env: Mapping[str, PValue]) -> str | Unknown:
        """The tags a dependency is called with (§3.11 steps 4 and 7; MLC additions)."""
        tags = split_tags(dep.tags)
        if self.mlc:
            expanded = [expand(t, self.env) for t in tags]
            for tag in expanded:
                if isinstance(tag, Unknown):
                    return tag
            tags = [t for t in expanded if isinstance(t, str)]
        added = self._tags_from_env(dep, dep_env)
        if isinstance(added, Unknown):
            return added
        tags += added
        if dep.inherit_variation_tags:
            tags += self._inherited_tags(dep, tags)
        return ",".join(dict.fromkeys(tags))

    def _tags_from_env(self, dep: DepSpec, dep_env: Mapping[str, PValue]) -> list[str] | Unknown:
        tags: list[str] = []
        for prefix, keys in dep.update_tags_from_env_with_prefix.items():
            for key in keys:
                value = dep_env.get(key) or self.env.get(key)
                if isinstance(value, Unknown):
                    return value
                tags += [f"{prefix}{item}" for item in _values(value)]
        for key in dep.update_tags_from_env:
            value = self.env.get(key)
            if isinstance(value, Unknown):
                return value
            tags.extend(_values(value))
        for tag, conditions in dep.update_tags_if_env.items():
            holds = _mlc_conditions(conditions, self.env)
            if holds is Tri.UNKNOWN:
                return Unknown(f"the condition of tag '{tag}'")
            if holds is Tri.TRUE:
                tags.append(tag)
        return tags

    def _inherited_tags(self, dep: DepSpec, tags: list[str]) -> list[str]:
        """The parent's variations, less skipped groups and those the dep negates."""
        negated = {t[2:] for t in tags if t.startswith(("-_", "_-"))}
        groups = self.meta.groups()
        skipped = {m for g in dep.skip_inherit_variation_groups for m in groups.get(g, [])}
        inherited = []
        for var in self.resolved.all:
            known = self.meta.variation(var)
            if var in negated or (known is not None and known.name in skipped):
                continue
            inherited.append(f"_{var}")
        return inherited

    def _why_unknown(self, dep: DepSpec) -> str:
        reasons = []
        for cond in (
            dep.enable_if_env,
            dep.enable_if_any_env,
            dep.skip_if_env,
            dep.skip_if_any_env,
        ):
            for key in cond:
                value = self.env.get(key)
                if isinstance(value, Unknown):
                    reasons.append(f"{key} is decided by {value.source}")
        return "condition: " + "; ".join(reasons or ["decided at run time"])

    def _residual(self, list_name: str, dep: DepSpec, reason: str) -> None:
        self.deps.append(
            ResidualDep(list_name, dep.tags, reason, freeze(dep_to_raw(dep)), dep.names)
        )
        source = Unknown(
            f"residual {list_name} '{dep.tags}' of {self.meta.alias} [{self.seed[:12]}]"
        )
        base = TagQuery.parse(",".join(t for t in split_tags(dep.tags) if "<<<" not in t))
        try:
            candidates = self.planner.provider.find(base)
        except CMSnakemakeError:
            candidates = []
        patterns: set[str] = set()
        for entry in candidates:
            meta = self.planner.provider.meta(entry)
            patterns.update(meta.new_env_keys)
            for var in meta.variations.values():
                patterns.update(var.new_env_keys)
        if not candidates or dep.force_new_env_keys is not None:
            patterns = {"*"}
        for pattern in sorted(patterns):
            if _is_wild(pattern):
                self.env.write_unknown(pattern, source)
            else:
                self.env.set(pattern, source)

    # -- the result ----------------------------------------------------------------------------

    def _read_env(self) -> dict[str, Any]:
        """The received env restricted to what this script (or a residual child) may read."""
        received = self.received
        if self.scan.reads_all or any(isinstance(d, ResidualDep) for d in self.deps):
            keys = received.keys()
        else:
            refs = self.scan.refs
            keys = [k for k in received.keys() if k in refs or k.startswith("+")]
        values = {k: received.get(k) for k in sorted(keys)}
        result = dict(env_to_json({k: v for k, v in values.items() if v is not None}))
        wild = [[p, u.source] for p, u in received.wildcards]
        if wild:
            result["$wildcards"] = wild
        return result

    def _key_env(self) -> dict[str, Any]:
        """The part of the received env that a node's key covers.

        * a script whose results are host facts: none (the facts are in the key);
        * a cached script: what CM's cache identity covers besides tags: the dependency
          entry's own ``env`` and the keys named in ``extra_cache_tags_from_env``. As in CM,
          an entry is reused whatever else the caller's env holds;
        * any other script: every received key it (or a residual dependency) may read.
        """
        if self._facts() is not None:
            return {}
        if self.cached:
            named = {item.get("env", "") for item in self.meta.extra_cache_tags_from_env}
            values = {k: self.received.get(k) for k in sorted(named) if k}
            return {"local": self.call.local_env,
                    **env_to_json({k: v for k, v in values.items() if v is not None})}  # fmt: skip
        return self._read_env()

    def _identity(self, *, include_deps: bool) -> dict[str, Any]:
        data = {
            "script": self.meta.uid or self.entry.name,
            "meta": self.meta.digest,
            "files": self.scan.digest,
            "variations": list(self.resolved.all),
            "versions": _versions_dict(self.versions),
            "env": self._key_env(),
            "const": thaw(self.const),
            "inputs": _plain_inputs(self.call.inputs),
            "cached": self.cached,
        }
        if self._facts() is not None:
            data["facts"] = self._facts()
        if include_deps:
            data["deps"] = [
                [d.list, d.key] if isinstance(d, StaticDep) else [d.list, thaw(d.spec)]
                for d in self.deps
            ]
        return data

    def node(self, others: list[ScriptEntry]) -> PlanNode:
        key = hash_json(self._identity(include_deps=True))[:32]
        return PlanNode(
            key=key,
            script=self.entry.name,
            alias=self.meta.alias,
            uid=self.meta.uid,
            path=self.meta.path,
            dialect=str(self.meta.dialect),
            variations=self.resolved.all,
            explicit_variations=self.resolved.explicit,
            versions=freeze(_versions_dict(self.versions)),
            cached=self.cached,
            env=env_to_json(dict(self.received.items())),
            resolved_env=env_to_json(self.resolved_env),
            const=freeze(self.const),
            inputs=freeze(_plain_inputs(self.call.inputs)),
            add_deps_recursive=freeze(self.call.adr),
            add_deps=freeze(self.call.ad),
            deps=tuple(self.deps),
            new_env_keys=tuple(self._export_patterns()),
            why=(self.call.why,),
            facts=tuple(self.facts_used),
            alternatives=tuple(e.name for e in others),
            meta_digest=self.meta.digest,
            files_digest=self.scan.digest,
            resources=FrozenMap(self.resources),
        )

    def _export_patterns(self) -> list[str]:
        forced = self.call.inputs.get("force_new_env_keys")
        return [str(p) for p in forced] if isinstance(forced, list) else self.new_env_keys

    def exports(self, key: str) -> _Exports:
        result = _Exports()
        patterns = self._export_patterns()
        for pattern in patterns:
            pattern_text = expand(pattern, self.env) if "<<<" in pattern else pattern
            if isinstance(pattern_text, Unknown):
                result.unknown.append(("*", pattern_text))
                continue
            if _is_wild(pattern_text):
                wild = self.env.wild_may_match(pattern_text)
                if wild is not None:
                    result.unknown.append((pattern_text, wild))
                for name in self.env.matching(pattern_text):
                    value = self.env.get(name)
                    if value is not None:
                        result.known[name] = value
            else:
                value = self.env.get(pattern_text)
                if value is not None:
                    result.known[pattern_text] = value
        return result


def _child_inputs(dep: DepSpec) -> dict[str, Any]:
    """The child run's input: the entry's extra keys plus the engine keys CM passes on."""
    inputs: dict[str, Any] = thaw(dep.inputs)
    for name in _VERSION_FIELDS:
        value = getattr(dep, name)
        if value is not None:
            inputs[name] = value
    for name in ("force_cache", "skip_cache"):
        value = getattr(dep, name)
        if value is not None:
            inputs[name] = value
    if dep.extra_cache_tags:
        inputs["extra_cache_tags"] = dep.extra_cache_tags
    if dep.force_new_env_keys is not None:
        inputs["force_new_env_keys"] = list(dep.force_new_env_keys)
    return inputs


def _versions_dict(request: VersionRequest) -> dict[str, str]:
    return {k: getattr(request, k) for k in _VERSION_FIELDS if getattr(request, k)}


def _plain_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: thaw(v) for k, v in inputs.items() if k not in _ENGINE_INPUTS}


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"yes", "true", "on", "1"} if value is not None else False


def _glob(key: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(key, pattern)


def _values(value: PValue | None) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, tuple):
        return [v for v in value if v]
    return [str(value)]


def _merge_adr(into: dict[str, Any], patches: Mapping[str, Any]) -> None:
    for name, patch in patches.items():
        if not isinstance(patch, Mapping):
            continue
        current = into.setdefault(name, {})
        for key, value in patch.items():
            if key == "tags" and "tags" in current:
                have = split_tags(str(current["tags"]))
                current["tags"] = ",".join(
                    [*have, *(t for t in split_tags(str(value)) if t not in have)]
                )
            else:
                current[key] = thaw(value)


def _mlc_conditions(conditions: Any, env: PEnv) -> Tri:
    """MLC's ``update_tags_if_env``: a list of condition mappings; any that fully holds."""
    from ..meta.model import dep_from_raw

    items = conditions if isinstance(conditions, list | tuple) else [conditions]
    results = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        dep = dep_from_raw({"tags": "x", "enable_if_env": thaw(item)})
        results.append(dep_enabled(dep, env, mlc=True))
    if Tri.TRUE in results:
        return Tri.TRUE
    return Tri.UNKNOWN if Tri.UNKNOWN in results else Tri.FALSE
