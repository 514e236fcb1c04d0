"""Deciding one dependency: how CM would call it now, three-valued (docs/cm-behaviour.md §4).

:func:`decide` is the one rule the planner and the runtime share. Given a prepared node
(:class:`~cm_snakemake.plan.prepare.Start`), one entry of its dependency lists and the env at
that point, it returns a :class:`DepDecision`:

* :class:`Dropped`: its condition does not hold;
* :class:`Residual`: only run time can tell (a condition or its tags use an unknown value),
  with the reason;
* :class:`Child`: the call the dependency makes, and the keys hidden from it, which
  :func:`after_child` puts back once the child has returned.

With every value known (the runtime's live env) the answer is never :class:`Residual`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._util.frozen import thaw
from ..meta.tags import TagQuery, split_tags
from .calls import Call, env_text
from .conditions import EnvCondition, Tri, dep_enabled
from .merge import merge_adr
from .model import env_to_json
from .penv import PEnv, PValue, Unknown, expand
from .prepare import VERSION_FIELDS, Start, impose_const

if TYPE_CHECKING:
    from ..meta.model import DepSpec

__all__ = ["Child", "DepDecision", "Dropped", "Residual", "after_child", "decide", "is_wild"]

_LOCAL_SUFFIXES = ("VERSION", "VERSION_MIN", "VERSION_MAX", "VERSION_MAX_USABLE",
                   "DETECTED_VERSION", "INPUT", "OUTPUT", "OUTBASENAME", "OUTDIRNAME", "NAME",
                   "EXTRA_CACHE_TAGS", "RENEW_CACHE_ENTRY")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dropped:
    """The dependency does not run: its condition is known not to hold."""


@dataclass(frozen=True, slots=True)
class Residual:
    """Only run time can decide the dependency."""

    reason: str


@dataclass(frozen=True)
class Child:
    """The dependency runs as ``call``; ``hidden`` are the caller's keys it does not see."""

    call: Call
    hidden: Mapping[str, PValue]

    @property
    def tags(self) -> str:
        return self.call.tags


DepDecision = Dropped | Residual | Child


def is_wild(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def decide(
    start: Start, list_name: str, dep: DepSpec, env: PEnv, path: Sequence[str]
) -> DepDecision:
    """How CM would call ``dep`` of ``start``'s script against ``env`` (which is not changed)."""
    enabled = dep_enabled(dep, env, mlc=start.mlc)
    if enabled is Tri.FALSE:
        return Dropped()
    if enabled is Tri.UNKNOWN:
        return Residual(_why_unknown(dep, env))
    dep_env: dict[str, PValue] = {}
    for key, value in dep.env.items():
        dep_env[key] = expand(value, env) if isinstance(value, str) else value
    tags = _dep_tags(start, dep, dep_env, env)
    if isinstance(tags, Unknown):
        return Residual(f"its tags use a value decided by {tags.source}")
    child_env = env.copy()
    hidden = _hide_local_keys(start, list_name, dep, child_env)
    child_env.update(dep_env)
    child_env.update(dep.const)
    adr = thaw(start.adr)
    merge_adr(adr, dep.add_deps_recursive)
    const = {**start.const, **{k: env_text(v) for k, v in dep.const.items()}}
    why = f"{list_name} '{dep.tags}' of {start.entry.name}"
    if dep.names:
        why += f" (names: {','.join(dep.names)})"
    call = Call(
        TagQuery.parse(tags),
        child_env,
        const,
        _child_inputs(dep, start),
        adr,
        thaw(dep.add_deps),
        why,
        tuple(path),
        env_to_json(dep_env),
        tags=tags,
    )
    return Child(call, hidden)


def after_child(env: PEnv, hidden: Mapping[str, PValue], const: Mapping[str, Any]) -> None:
    """After a child returned (its exports merged): the hidden keys come back and win, as
    in CM; placeholders are expanded; const is imposed again."""
    env.update(hidden)
    for key, value in env.items():
        if isinstance(value, str) and "<<<" in value:
            env.set(key, expand(value, env))
    impose_const(env, const)


def _local_keys(start: Start, list_name: str) -> list[str]:
    if list_name == "post_deps":
        return list(start.meta.clean_env_keys_post_deps)
    p = start.prefix
    return [*(p + s for s in _LOCAL_SUFFIXES), f"{p}TMP_*", f"{p}GIT_*", *start.meta.local_env_keys]


def _hide_local_keys(
    start: Start, list_name: str, dep: DepSpec, child_env: PEnv
) -> dict[str, PValue]:
    import fnmatch

    hidden: dict[str, PValue] = {}
    for pattern in _local_keys(start, list_name):
        for name in child_env.matching(pattern) if is_wild(pattern) else [pattern]:
            popped = child_env.pop(name)
            if popped is not None:
                hidden[name] = popped
    for name, current in child_env.items():
        if isinstance(current, str) and "<<<" in current:
            hidden[name] = current
            child_env.pop(name)
    restore = [*dep.force_env_keys]
    if dep.reuse_version:
        restore.append(f"{start.prefix}VERSION*")
    for pattern in restore:
        for name, kept in hidden.items():
            if name == pattern or (is_wild(pattern) and fnmatch.fnmatchcase(name, pattern)):
                child_env.set(name, kept)
    return hidden


def _dep_tags(
    start: Start, dep: DepSpec, dep_env: Mapping[str, PValue], env: PEnv
) -> str | Unknown:
    """The tags a dependency is called with (the ``update_tags_*`` additions; MLC expands
    ``<<<VAR>>>`` in tags)."""
    tags = split_tags(dep.tags)
    if start.mlc:
        expanded = [expand(t, env) for t in tags]
        for tag in expanded:
            if isinstance(tag, Unknown):
                return tag
        tags = [t for t in expanded if isinstance(t, str)]
    added = _tags_from_env(dep, dep_env, env)
    if isinstance(added, Unknown):
        return added
    tags += added
    if dep.inherit_variation_tags:
        tags += _inherited_tags(start, dep, tags)
    return ",".join(dict.fromkeys(tags))


def _tags_from_env(dep: DepSpec, dep_env: Mapping[str, PValue], env: PEnv) -> list[str] | Unknown:
    tags: list[str] = []
    for prefix, keys in dep.update_tags_from_env_with_prefix.items():
        for key in keys:
            value = dep_env.get(key) or env.get(key)
            if isinstance(value, Unknown):
                return value
            tags += [f"{prefix}{item}" for item in _values(value)]
    for key in dep.update_tags_from_env:
        value = env.get(key)
        if isinstance(value, Unknown):
            return value
        tags.extend(_values(value))
    for tag, conditions in dep.update_tags_if_env.items():
        holds = _mlc_conditions(conditions, env)
        if holds is Tri.UNKNOWN:
            return Unknown(f"the condition of tag '{tag}'")
        if holds is Tri.TRUE:
            tags.append(tag)
    return tags


def _inherited_tags(start: Start, dep: DepSpec, tags: list[str]) -> list[str]:
    """The parent's variations, less skipped groups and those the dep negates."""
    negated = {t[2:] for t in tags if t.startswith(("-_", "_-"))}
    groups = start.meta.groups()
    skipped = {m for g in dep.skip_inherit_variation_groups for m in groups.get(g, [])}
    inherited = []
    for var in start.resolved.all:
        known = start.meta.variation(var)
        if var in negated or (known is not None and known.name in skipped):
            continue
        inherited.append(f"_{var}")
    return inherited


def _why_unknown(dep: DepSpec, env: PEnv) -> str:
    reasons = []
    for cond in (dep.enable_if_env, dep.enable_if_any_env, dep.skip_if_env, dep.skip_if_any_env):
        for key in cond:
            value = env.get(key)
            if isinstance(value, Unknown):
                reasons.append(f"{key} is decided by {value.source}")
    return "condition: " + "; ".join(reasons or ["decided at run time"])


def _child_inputs(dep: DepSpec, start: Start) -> dict[str, Any]:
    """The child run's input: the entry's extra keys plus the engine keys CM passes on."""
    inputs: dict[str, Any] = thaw(dep.inputs)
    if dep.cache_expiration:
        inputs["cache_expiration"] = dep.cache_expiration
    elif dep.inherit_cache_expiration and start.cache_expiration:
        inputs["cache_expiration"] = start.cache_expiration  # MLC: the parent's
    for name in VERSION_FIELDS:
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


def _values(value: PValue | None) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, tuple):
        return [v for v in value if v]
    return [str(value)]


def _mlc_conditions(conditions: Any, env: PEnv) -> Tri:
    """MLC's ``update_tags_if_env``: a list of condition mappings; any that fully holds."""
    items = conditions if isinstance(conditions, list | tuple) else [conditions]
    results = [
        EnvCondition.from_raw({"enable_if_env": item}).holds(env, mlc=True)
        for item in items
        if isinstance(item, Mapping)
    ]
    if Tri.TRUE in results:
        return Tri.TRUE
    return Tri.UNKNOWN if Tri.UNKNOWN in results else Tri.FALSE
