"""CM's one rule for merging values into a dict (docs/cm-behaviour.md §3.13).

CM merges with ``utils.merge_dicts(dict1, dict2, append_lists, append_unique)``: a mapping
is merged key by key into a mapping, a list is appended to a list (only the items not there
yet with ``append_unique``) or replaces what was there, anything else replaces. Exports reach
the caller's env and state with ``append_lists`` and ``append_unique``; ``add_deps`` patches
reach a dependency entry with ``append_lists``. Nested mappings are merged with
``append_lists`` only, as CM does.

``add_deps_recursive`` is merged by CM's ``_merge_dicts_with_tags``: the same rule, except
that ``tags`` strings are joined as tag lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._util.frozen import thaw
from ..meta.tags import split_tags

if TYPE_CHECKING:
    from .penv import PEnv, PValue

__all__ = ["merge_adr", "merge_dicts", "merge_exports", "merged_value"]


def merged_value(old: Any, new: Any, *, append_lists: bool, append_unique: bool) -> Any:
    """The value a key holds after merging ``new`` over ``old`` (lists as lists, tuples
    as tuples: the planner's env keeps list values as tuples)."""
    if isinstance(new, list | tuple):
        base = list(old) if append_lists and isinstance(old, list | tuple) else []
        for item in new:
            if not append_unique or item not in base:
                base.append(item)
        return tuple(base) if isinstance(new, tuple) else base
    return thaw(new) if isinstance(new, Mapping) else new


def merge_dicts(
    into: dict[str, Any],
    values: Mapping[str, Any],
    *,
    append_lists: bool = False,
    append_unique: bool = False,
) -> dict[str, Any]:
    """Merge ``values`` into ``into`` (changed in place, and returned)."""
    for key, value in values.items():
        old = into.get(key)
        if isinstance(value, Mapping) and isinstance(old, dict):
            merge_dicts(old, value, append_lists=append_lists)
        else:
            into[key] = merged_value(
                old, value, append_lists=append_lists, append_unique=append_unique
            )
    return into


def merge_exports(env: PEnv, values: Mapping[str, PValue]) -> None:
    """Exports into a planning env: the rule of :func:`merge_dicts` for exports."""
    for key, value in values.items():
        env.set(key, merged_value(env.get(key), value, append_lists=True, append_unique=True))


def merge_adr(into: dict[str, Any], patches: Mapping[str, Any]) -> None:
    """``add_deps_recursive`` patches into the accumulated ones: per dependency name, keys
    replace, ``tags`` are joined without repeating a tag."""
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
