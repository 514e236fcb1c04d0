"""Variation resolution (docs/cm-behaviour.md §3.4, §3.5), pure.

From the variations a request names, compute the full list CM applies, in CM's order:
aliases, ``default_variation``, the closure over ``base`` and ``default_variations`` (of
single and combined keys), group defaults, then the validity checks. :func:`applied_metas`
gives the variation metas to apply in order, with ``#`` substituted in dynamic ones and the
combined keys after each single one, as CM applies them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._util.frozen import FrozenMap
from ..errors import CMSnakemakeError
from ..meta.model import DepSpec, Patch, ScriptMeta, Variation

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ResolvedVariations",
    "VariationError",
    "applied_metas",
    "resolve_variations",
    "substitute",
]


class VariationError(CMSnakemakeError):
    """A request's variations cannot be resolved (unknown name, group conflict, ...)."""

    def __init__(self, script: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"script '{script}': {message}", hint=hint)
        self.script = script


@dataclass(frozen=True, slots=True)
class ResolvedVariations:
    """The outcome: ``all`` in CM's order, and the ``explicit`` ones the request named."""

    all: tuple[str, ...]
    explicit: tuple[str, ...]
    excluded: tuple[str, ...]

    @property
    def tags(self) -> str:
        """``_a,_b,...`` as CM's ``variation_tags_string``."""
        return ",".join(f"_{v}" for v in self.all)


def _key(meta: ScriptMeta, name: str) -> str | None:
    """The ``variations`` key that ``name`` selects (itself, or a dynamic ``prefix.#``)."""
    var = meta.variation(name)
    return var.name if var is not None else None


def _present(tags: Sequence[str], name: str) -> bool:
    """Whether ``name`` (possibly a dynamic ``prefix.#``) is among ``tags``."""
    if name.endswith(".#"):
        prefix = name[:-1]
        return any(t.startswith(prefix) for t in tags)
    return name in tags


def _group_members(meta: ScriptMeta) -> dict[str, list[str]]:
    return meta.groups()


def _in_group(meta: ScriptMeta, tags: Sequence[str], members: Sequence[str]) -> list[str]:
    return [t for t in tags if _key(meta, t) in members]


def _add_bases(
    meta: ScriptMeta, tag: str, var: Variation, tags: list[str], excluded: set[str]
) -> None:
    for base in var.base:
        if base in excluded:
            raise VariationError(
                meta.alias, f"variation '_{tag}' needs '_{base}', which is excluded"
            )
        if not _present(tags, base):
            tags.append(base)


def _closure(meta: ScriptMeta, tags: list[str], excluded: set[str], done: set[str]) -> None:
    """Add ``base`` and ``default_variations`` until nothing changes (CM's step 4).

    As in CM, tags are processed in list order while the list grows; after each one, every
    combined key (fewest parts first) whose parts are now all present adds its own
    ``default_variations``. Defaults are checked against the list as it was when this call
    started.
    """
    groups = _group_members(meta)
    at_start = [_key(meta, t) or t for t in tags]

    def add_defaults(var: Variation) -> None:
        for group, default in var.default_variations.items():
            members = groups.get(group, [])
            if any(m in at_start for m in members) or default in at_start or default in excluded:
                continue
            if default not in tags:
                tags.append(default)

    combined = sorted(
        (v for v in meta.variations.values() if v.is_combined), key=lambda v: len(v.parts)
    )
    combined_done: set[str] = set()
    top = Variation(default_variations=meta.default_variations)  # MLC: top level
    i = 0
    while True:
        while i < len(tags):
            tag = tags[i]
            i += 1
            if tag in done:
                continue
            done.add(tag)
            var = meta.variation(tag)
            if var is None:
                raise VariationError(
                    meta.alias,
                    f"no variation '_{tag}'",
                    hint=f"Run 'cm-snakemake show script {meta.alias}' to see its variations.",
                )
            _add_bases(meta, tag, var, tags, excluded)
            add_defaults(var)
            for combo in combined:
                if combo.name not in combined_done and all(p in tags for p in combo.parts):
                    combined_done.add(combo.name)
                    add_defaults(combo)
        count = len(tags)
        add_defaults(top)  # its defaults get their own bases and defaults too
        if len(tags) == count:
            return


def resolve_variations(
    meta: ScriptMeta, requested: Sequence[str], excluded: Sequence[str] = ()
) -> ResolvedVariations:
    """Resolve the variations of one run of ``meta`` (raises :class:`VariationError`)."""
    excluded_set = set(excluded)
    for name in [*requested, *excluded]:
        var = meta.variation(name)
        if var is None or var.is_combined:
            raise VariationError(
                meta.alias,
                f"no variation '_{name}'",
                hint=f"Run 'cm-snakemake show script {meta.alias}' to see its variations.",
            )
    tags = list(dict.fromkeys(requested))
    for tag in list(tags):  # step 1: aliases
        var = meta.variation(tag)
        if var is not None and var.alias:
            if var.alias in excluded_set:
                raise VariationError(
                    meta.alias,
                    f"variation '_{tag}' is an alias of '_{var.alias}', which is excluded",
                )
            if var.alias not in tags:
                tags.append(var.alias)
    if not tags and meta.default_variation and meta.default_variation not in excluded_set:
        tags = [meta.default_variation.lstrip("_")]  # step 3
    done: set[str] = set()
    groups = _group_members(meta)
    while True:  # steps 4 and 5
        _closure(meta, tags, excluded_set, done)
        added = False
        for group, members in groups.items():
            chosen = _in_group(meta, tags, members)
            if len(chosen) > 1:
                raise VariationError(
                    meta.alias,
                    f"variations {', '.join('_' + c for c in chosen)} are all in group "
                    f"'{group}'; choose one",
                    hint=f"Members of '{group}': {', '.join('_' + m for m in members)}.",
                )
            if not chosen:
                default = next((m for m in members if meta.variations[m].is_default), None)
                if default is not None and default not in excluded_set:
                    tags.append(default)
                    added = True
        if not added:
            break
    _check_combinations(meta, tags)
    return ResolvedVariations(tuple(tags), tuple(dict.fromkeys(requested)), tuple(excluded))


def _check_combinations(meta: ScriptMeta, tags: Sequence[str]) -> None:
    if meta.valid_variation_combinations and not any(
        all(_present(tags, v.lstrip("_")) for v in combo)
        for combo in meta.valid_variation_combinations
    ):
        valid = "; ".join(",".join(c) for c in meta.valid_variation_combinations)
        raise VariationError(
            meta.alias, f"variations {','.join(tags)} are not a valid combination (valid: {valid})"
        )
    for combo in meta.invalid_variation_combinations:
        if all(_present(tags, v.lstrip("_")) for v in combo):
            raise VariationError(
                meta.alias, f"the variations {','.join(combo)} cannot be used together"
            )


def substitute(value: Any, text: str) -> Any:
    """Return ``value`` (a variation meta or part of one) with every ``#`` replaced by ``text``."""
    if isinstance(value, str):
        return value.replace("#", text)
    if isinstance(value, tuple):
        return tuple(substitute(v, text) for v in value)
    if isinstance(value, FrozenMap):
        return FrozenMap({substitute(k, text): substitute(v, text) for k, v in value.items()})
    if isinstance(value, DepSpec | Patch):
        changes = {
            f.name: substitute(getattr(value, f.name), text)
            for f in dataclasses.fields(value)
            if f.name != "name"
        }
        return dataclasses.replace(value, **changes)
    return value


def applied_metas(meta: ScriptMeta, resolved: ResolvedVariations) -> list[tuple[str, Variation]]:
    """Return ``(tag, variation meta)`` in the order CM applies them.

    After each single variation come the combined keys whose parts are all present, sorted by
    their number of parts (CM reapplies them after every single one; reapplying is harmless
    for env and dep lists, and so is done here too).
    """
    tags = resolved.all
    combined = sorted(
        (
            v
            for v in meta.variations.values()
            if v.is_combined and all(_present(tags, p) for p in v.parts)
        ),
        key=lambda v: len(v.parts),
    )
    result: list[tuple[str, Variation]] = []
    for tag in tags:
        var = meta.variation(tag)
        assert var is not None  # checked by resolve_variations
        if var.is_dynamic:
            var = substitute(var, tag[len(var.name) - 1 :])
        result.append((tag, var))
        result.extend((c.name, c) for c in combined)
    return result
