"""Preparing one call: CM's phases before a script's dependencies, as partial evaluation.

:func:`prepare` takes a call and the script selected for it and returns a :class:`Start`:
the immutable state of the node just before its dependency lists run (docs/cm-behaviour.md
§3.2 to §3.8). The planner walks the dependencies from there; the runtime runs the node
from there. Neither rebuilds it.

Phases, in CM's order::

    env: received env + input flags → default_env → env → input_mapping (also const) → const
    variations: resolve → apply each (env, const, deps, ad, input_mapping, exports, adr)
    versions: input > env > meta; versions[v]
    patches: input ad, then the accumulated adr, on the four lists
    default_version clamped to the version constraints
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._util.frozen import EMPTY, FrozenMap, freeze, thaw
from ..meta.model import DEP_LISTS, DepSpec, Patch, ScriptMeta, Variation
from .calls import Call, PlanError, env_text
from .conditions import EnvCondition, Tri
from .deplists import append_deps, patch_deps
from .inputs import ENV_FLAG_INPUTS, VERSION_INPUTS
from .merge import merge_adr, merge_dicts
from .penv import PEnv, PValue, Unknown, expand
from .variations import ResolvedVariations, applied_metas, resolve_variations
from .versions import VersionRequest, clamp_default

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..index.scan import ScriptScan
    from ..index.scripts import ScriptEntry

__all__ = ["VERSION_FIELDS", "Start", "impose_const", "prepare"]

VERSION_FIELDS = VERSION_INPUTS


@dataclass(frozen=True)
class Start:
    """One call prepared: the selected script and everything CM's phases before the
    dependencies decided. Immutable; :meth:`env` gives a fresh copy of the env."""

    call: Call
    entry: ScriptEntry
    meta: ScriptMeta
    scan: ScriptScan
    resolved: ResolvedVariations
    versions: VersionRequest
    env_values: FrozenMap[str, PValue]
    env_wildcards: tuple[tuple[str, Unknown], ...]
    const: FrozenMap[str, Any]
    adr: FrozenMap[str, Any]
    lists: FrozenMap[str, tuple[DepSpec, ...]]
    new_env_keys: tuple[str, ...]
    script_name: str | None
    resources: FrozenMap[str, str]
    cached: bool
    state: FrozenMap[str, Any] = EMPTY
    const_state: FrozenMap[str, Any] = EMPTY
    new_state_keys: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # of the meta and the applied variations and versions
    cache_expiration: str = ""  # MLC's text (``2h``), which dependencies may inherit
    expires_after: float | None = None  # the same in seconds

    @property
    def prefix(self) -> str:
        return self.meta.dialect.env_prefix

    @property
    def mlc(self) -> bool:
        return self.meta.dialect == "mlc"

    def env(self) -> PEnv:
        """The env the dependencies start from (a new, changeable copy)."""
        return PEnv(self.env_values, self.env_wildcards)

    def export_patterns(self) -> tuple[str, ...]:
        """``new_env_keys``, or the ``force_new_env_keys`` the caller gave."""
        forced = self.call.inputs.get("force_new_env_keys")
        return tuple(str(p) for p in forced) if isinstance(forced, list) else self.new_env_keys

    def accepted_inputs(self) -> frozenset[str]:
        """The input names this script reads through ``input_mapping`` (meta and every
        variation): flags a command line may pass to it."""
        names = set(self.meta.input_mapping)
        for var in self.meta.variations.values():
            names |= set(var.input_mapping)
        return frozenset(names)


def impose_const(env: PEnv, const: Mapping[str, Any]) -> None:
    """CM re-imposes ``const`` after every step that may have changed the env."""
    env.update({k: env_text(v) for k, v in const.items()})


def prepare(call: Call, entry: ScriptEntry, meta: ScriptMeta, scan: ScriptScan) -> Start:
    """Run CM's phases before the dependencies for ``call`` on the selected script."""
    phases = _Phases(call, meta)
    resolved = phases.variations()
    versions = phases.versions()
    phases.input_patches()
    cached = _cached(meta, call.inputs, phases.cache)
    versions = phases.default_version(versions)
    return Start(
        call=call,
        entry=entry,
        meta=meta,
        scan=scan,
        resolved=resolved,
        versions=versions,
        env_values=FrozenMap(dict(phases.env.items())),
        env_wildcards=phases.env.wildcards,
        const=freeze(phases.const),
        adr=freeze(phases.adr),
        lists=FrozenMap(phases.lists),
        new_env_keys=tuple(phases.new_env_keys),
        script_name=phases.script_name,
        resources=FrozenMap(phases.resources),
        cached=cached,
        new_state_keys=tuple(phases.new_state_keys),
        warnings=tuple(phases.warnings),
        cache_expiration=phases.expiration,
        expires_after=expiry_seconds(phases.expiration, meta.alias),
        state=freeze(phases.state),
        const_state=freeze(phases.const_state),
    )


_UNITS = {"m": 60, "h": 3600, "d": 86400}


def expiry_seconds(text: str, script: str) -> float | None:
    """MLC's ``cache_expiration``: ``10m``, ``2h``, ``3d`` or ``0`` (stale at once); None for
    none. Anything else is a plan error naming the script."""
    text = text.strip()
    if not text:
        return None
    if text == "0":
        return 0.0
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not number.isdigit():
        raise PlanError(
            f"script '{script}': cache_expiration '{text}' is not a number of minutes, hours "
            "or days (10m, 2h, 3d, or 0)"
        )
    return float(int(number) * _UNITS[unit])


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"yes", "true", "on", "1"} if value is not None else False


def _cached(meta: ScriptMeta, inputs: Mapping[str, Any], chosen: bool | None = None) -> bool:
    cache = meta.cache if chosen is None else chosen
    if cache and not _truthy(inputs.get("skip_cache")):
        return True
    return bool(meta.can_force_cache and _truthy(inputs.get("force_cache")))


class _Phases:
    """The changing state while the phases run; :func:`prepare` freezes it."""

    def __init__(self, call: Call, meta: ScriptMeta) -> None:
        self.call = call
        self.meta = meta
        self.prefix = meta.dialect.env_prefix
        self.mlc = meta.dialect == "mlc"
        self.env = call.env.copy()
        self.const: dict[str, Any] = dict(call.const)
        self.lists: dict[str, tuple[DepSpec, ...]] = {n: getattr(meta, n) for n in DEP_LISTS}
        self.adr: dict[str, Any] = thaw(call.adr)
        self.new_env_keys: list[str] = list(meta.new_env_keys)
        self.new_state_keys: list[str] = list(meta.new_state_keys)
        self.cache: bool | None = None  # a selected variation's ``cache``, last one wins
        self.warnings: list[str] = list(meta.warnings)
        self.expiration = str(call.inputs.get("cache_expiration") or meta.cache_expiration or "")
        self.script_name = meta.script_name
        self.default = meta.default_version
        self.meta_if_env: list[Any] = list(meta.update_meta_if_env)
        self.resources: dict[str, str] = dict(meta.resources)
        self.state: dict[str, Any] = {}
        self.const_state: dict[str, Any] = {}
        self._merge_state(meta)
        self._base_env()

    def _set(self, key: str, value: Any) -> None:
        self.env.set(key, env_text(value) if not isinstance(value, Unknown) else value)

    def _expand_env(self) -> None:
        for key, value in self.env.items():
            if isinstance(value, str) and "<<<" in value:
                self.env.set(key, expand(value, self.env))

    def _base_env(self) -> None:
        inputs = self.call.inputs
        if "path" in inputs:
            self._set(f"{self.prefix}TMP_PATH", inputs["path"])
        for name in ENV_FLAG_INPUTS:
            if name in inputs:
                self._set(f"{self.prefix}{name.upper()}", inputs[name])
        self._expand_env()
        for key, value in self.meta.default_env.items():
            self.env.setdefault(key, value)
        self.env.update(self.meta.env)
        for name, env_key in self.meta.input_mapping.items():
            if name in inputs:
                self._set(env_key, inputs[name])
                self.const[env_key] = env_text(inputs[name])
        impose_const(self.env, self.const)
        self._update_meta_if_env()

    def _merge_state(self, patch: Patch) -> None:
        """``state`` and ``const_state`` of the meta, a variation or a version: merged into
        the run's state before the dependencies (docs/cm-behaviour.md §3.4)."""
        for mine, theirs in ((self.state, patch.state), (self.const_state, patch.const_state)):
            if theirs:
                merge_dicts(mine, thaw(theirs), append_lists=True, append_unique=True)

    def _apply_patch(self, patch: Patch, what: str) -> None:
        """CM's ``update_state_from_meta`` for a variation or version sub-meta."""
        self._merge_state(patch)
        for key, value in patch.default_env.items():
            self.env.setdefault(key, value)
        self.env.update(patch.env)
        self.meta_if_env += patch.update_meta_if_env
        self._update_meta_if_env()
        self.resources.update(patch.resources)
        if patch.const:
            self.const.update(patch.const)
            impose_const(self.env, self.const)
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
        self.new_state_keys += [k for k in patch.new_state_keys if k not in self.new_state_keys]
        if isinstance(patch, Variation) and patch.cache is not None:
            self.cache = patch.cache
        if patch.cache_expiration:
            self.expiration = patch.cache_expiration
        self.warnings += [w for w in patch.warnings if w not in self.warnings]
        if patch.script_name:
            self.script_name = patch.script_name
        if patch.default_version:
            self.default = patch.default_version
        merge_adr(self.adr, patch.add_deps_recursive)

    def _update_meta_if_env(self) -> None:
        """Re-evaluate the accumulated ``update_meta_if_env`` patches against the env.

        A patch whose condition holds applies its env; one whose condition is unknown makes
        the keys it would set unknown (only run time knows whether they change).
        """
        for item in self.meta_if_env:
            if not isinstance(item, Mapping):
                continue
            holds = EnvCondition.from_raw(item).holds(self.env, mlc=self.mlc)
            env = {k: env_text(v) for k, v in dict(item.get("env") or {}).items()}
            defaults = {k: env_text(v) for k, v in dict(item.get("default_env") or {}).items()}
            if holds is Tri.TRUE:
                for key, value in defaults.items():
                    self.env.setdefault(key, value)
                self.env.update(env)
            elif holds is Tri.UNKNOWN:
                source = Unknown(f"update_meta_if_env of {self.meta.alias}")
                for key in [*env, *defaults]:
                    self.env.set(key, source)

    def variations(self) -> ResolvedVariations:
        query = self.call.query
        resolved = resolve_variations(self.meta, query.variations, query.excluded)
        for tag, var in applied_metas(self.meta, resolved):
            self._apply_patch(var, f"variation '_{tag}'")
        return resolved

    def versions(self) -> VersionRequest:
        values = {}
        for name in VERSION_FIELDS:
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

    def default_version(self, request: VersionRequest) -> VersionRequest:
        """After the input patches: the ``default_version``, clamped to the constraints."""
        if request.version or not self.default:
            return request
        chosen = clamp_default(self.default, request)
        self._set(f"{self.prefix}VERSION", chosen)
        sub = self.meta.versions.get(self.default)  # CM looks up the unclamped key
        if sub is not None:
            self._apply_patch(sub, f"version '{self.default}'")
        return VersionRequest(
            chosen, request.version_min, request.version_max, request.version_max_usable
        )

    def input_patches(self) -> None:
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
        impose_const(self.env, self.const)
