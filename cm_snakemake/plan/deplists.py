"""Operations on dependency lists: CM's ``append_deps`` and ``add_deps`` patches
(docs/cm-behaviour.md §3.7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..meta.build import dep_from_raw
from ..meta.model import DepSpec, dep_to_raw
from ..meta.tags import split_tags
from .conditions import EnvCondition, Tri
from .merge import merge_dicts
from .penv import PEnv, Unknown, expand

__all__ = ["append_deps", "patch_deps"]

_CONDITION_KEYS = ("enable_if_env", "enable_if_any_env", "skip_if_env", "skip_if_any_env")


def append_deps(current: Sequence[DepSpec], added: Sequence[DepSpec]) -> tuple[DepSpec, ...]:
    """Append ``added`` to ``current``; an entry with the same ``names`` (or, without names,
    the same tag set) as an existing one replaces it in place."""
    result = list(current)
    for dep in added:
        for i, old in enumerate(result):
            same = (
                set(dep.names) == set(old.names)
                if dep.names or old.names
                else set(split_tags(dep.tags)) == set(split_tags(old.tags))
            )
            if same:
                result[i] = dep
                break
        else:
            result.append(dep)
    return tuple(result)


def _expand_patch(patch: Any, env: PEnv) -> Any:
    if isinstance(patch, str):
        value = expand(patch, env)
        return patch if isinstance(value, Unknown) else value
    if isinstance(patch, Mapping):
        return {k: _expand_patch(v, env) for k, v in patch.items()}
    if isinstance(patch, list | tuple):
        return [_expand_patch(v, env) for v in patch]
    return patch


def patch_dep(dep: DepSpec, patch: Mapping[str, Any], env: PEnv) -> DepSpec:
    """Apply one ``add_deps`` patch to one entry with CM's rules.

    New tags are appended when not present (tags still holding ``<<<`` are dropped), condition
    keys are ignored, mappings are deep-merged, lists extended, other values replaced.
    """
    raw = dep_to_raw(dep)
    patch = _expand_patch(patch, env)
    for key, value in patch.items():
        if key in _CONDITION_KEYS:
            continue
        if key == "tags":
            have = split_tags(raw.get("tags", ""))
            new = [t for t in split_tags(str(value)) if t not in have and "<<<" not in t]
            raw["tags"] = ",".join([*have, *new])
        else:
            merge_dicts(raw, {key: value}, append_lists=True)
    return dep_from_raw(raw)


def patch_deps(
    lists: Mapping[str, tuple[DepSpec, ...]], patches: Mapping[str, Any], env: PEnv
) -> tuple[dict[str, tuple[DepSpec, ...]], list[str]]:
    """Apply ``{name: patch}`` to every entry (in all lists) whose ``names`` hold ``name``.

    A patch with its own conditions that do not hold against ``env`` is left out. Returns the
    new lists and the names that matched no entry.
    """
    result = {k: list(v) for k, v in lists.items()}
    unmatched = []
    for name, patch in patches.items():
        if not isinstance(patch, Mapping):
            continue
        if any(c in patch for c in _CONDITION_KEYS):
            if EnvCondition.from_raw(patch).holds(env) is Tri.FALSE:
                continue
        found = False
        for deps in result.values():
            for i, dep in enumerate(deps):
                if name in dep.names:
                    deps[i] = patch_dep(dep, patch, env)
                    found = True
        if not found:
            unmatched.append(name)
    return {k: tuple(v) for k, v in result.items()}, unmatched
