"""Typed, immutable script meta: the CM/MLC meta format parsed once and validated.

:func:`~cm_snakemake.meta.build.build_script_meta` turns the merged raw meta of one script
into a :class:`ScriptMeta`; nothing after it reads raw meta dicts. This module holds the
types, their JSON form and the digest of their meaning.

Deliberate differences from CM (see ``docs/compatibility.md``):

* ``default: false`` (or ``no``/``off``) on a variation does *not* make it the default.
* Plain YAML scalars keep their text: ``off`` stays ``off``, ``20.10`` stays ``20.10``.
* A condition value written as a scalar is one value (CM iterates its characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from .._util.frozen import EMPTY, FrozenMap
from .dialect import Dialect

if TYPE_CHECKING:
    from ..errors import Where

__all__ = [
    "DEP_LISTS",
    "DepSpec",
    "Dialect",
    "EnvValue",
    "MetaWarning",
    "Patch",
    "ScriptMeta",
    "Variation",
    "to_jsonable",
]

EnvValue = str | tuple[str, ...]
Conditions = FrozenMap[str, tuple[str, ...]]
DEP_LISTS = ("deps", "prehook_deps", "posthook_deps", "post_deps")


@dataclass(frozen=True, slots=True)
class MetaWarning:
    """Something odd in a meta file that does not stop the script from being used."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class DepSpec:
    """One dependency entry: an input for a nested script run plus the engine's own keys."""

    tags: str
    names: tuple[str, ...] = ()
    enable_if_env: Conditions = EMPTY
    enable_if_any_env: Conditions = EMPTY
    skip_if_env: Conditions = EMPTY
    skip_if_any_env: Conditions = EMPTY
    skip_if_fake_run: bool = False
    dynamic: bool = False
    env: FrozenMap[str, EnvValue] = EMPTY
    state: FrozenMap[str, Any] = EMPTY
    const: FrozenMap[str, EnvValue] = EMPTY
    const_state: FrozenMap[str, Any] = EMPTY
    version: str | None = None
    version_min: str | None = None
    version_max: str | None = None
    version_max_usable: str | None = None
    force_env_keys: tuple[str, ...] = ()
    reuse_version: bool = False
    update_tags_from_env: tuple[str, ...] = ()
    update_tags_from_env_with_prefix: FrozenMap[str, tuple[str, ...]] = EMPTY
    update_tags_if_env: FrozenMap[str, Any] = EMPTY
    update_meta_if_env: tuple[Any, ...] = ()
    inherit_variation_tags: bool = False
    skip_inherit_variation_groups: tuple[str, ...] = ()
    force_cache: bool | None = None
    skip_cache: bool | None = None
    extra_cache_tags: str | None = None
    force_new_env_keys: tuple[str, ...] | None = None
    force_new_state_keys: tuple[str, ...] | None = None
    add_deps: FrozenMap[str, Any] = EMPTY
    add_deps_recursive: FrozenMap[str, Any] = EMPTY
    continue_on_error: bool = False
    ignore_missing: bool = False
    cache_expiration: str | None = None
    inherit_cache_expiration: bool = False
    inputs: FrozenMap[str, Any] = EMPTY
    """Every other key: passed to the child run as input (its ``input_mapping`` reads them)."""


@dataclass(frozen=True, slots=True)
class Patch:
    """What a variation, a version sub-meta or a conditional update can change."""

    env: FrozenMap[str, EnvValue] = EMPTY
    default_env: FrozenMap[str, EnvValue] = EMPTY
    const: FrozenMap[str, EnvValue] = EMPTY
    state: FrozenMap[str, Any] = EMPTY
    const_state: FrozenMap[str, Any] = EMPTY
    deps: tuple[DepSpec, ...] = ()
    prehook_deps: tuple[DepSpec, ...] = ()
    posthook_deps: tuple[DepSpec, ...] = ()
    post_deps: tuple[DepSpec, ...] = ()
    add_deps: FrozenMap[str, Any] = EMPTY
    add_deps_recursive: FrozenMap[str, Any] = EMPTY
    input_mapping: FrozenMap[str, str] = EMPTY
    new_env_keys: tuple[str, ...] = ()
    new_state_keys: tuple[str, ...] = ()
    script_name: str | None = None
    default_version: str | None = None
    default_variations: FrozenMap[str, str] = EMPTY
    docker: FrozenMap[str, Any] = EMPTY
    update_meta_if_env: tuple[Any, ...] = ()
    resources: FrozenMap[str, str] = EMPTY
    cache_expiration: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Variation(Patch):
    """One entry of ``variations``: a plain, dynamic (``prefix.#``) or combined (``a,b``) key."""

    name: str = ""
    group: str | None = None
    is_default: bool = False
    alias: str | None = None
    base: tuple[str, ...] = ()
    cache: bool | None = None  # replaces the script's own ``cache`` when selected

    @property
    def is_dynamic(self) -> bool:
        return self.name.endswith(".#")

    @property
    def is_combined(self) -> bool:
        return "," in self.name

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.name.split(","))


@dataclass(frozen=True, slots=True)
class ScriptMeta(Patch):
    """A script's whole meta. Top-level ``env``/``deps``/... live in the inherited Patch."""

    alias: str = ""
    uid: str = ""
    tags: tuple[str, ...] = ()
    dialect: Dialect = Dialect.CM
    path: str = ""
    meta_files: tuple[str, ...] = ()
    sort: int = 0
    cache: bool = False
    can_force_cache: bool = False
    local_env_keys: tuple[str, ...] = ()
    clean_env_keys_post_deps: tuple[str, ...] = ()
    docker_input_mapping: FrozenMap[str, str] = EMPTY
    variations: FrozenMap[str, Variation] = EMPTY
    default_variation: str | None = None
    valid_variation_combinations: tuple[tuple[str, ...], ...] = ()
    invalid_variation_combinations: tuple[tuple[str, ...], ...] = ()
    version: str | None = None
    version_min: str | None = None
    version_max: str | None = None
    version_max_usable: str | None = None
    versions: FrozenMap[str, Patch] = EMPTY
    env_key_mappings: FrozenMap[str, str] = EMPTY
    extra_cache_tags_from_env: tuple[FrozenMap[str, str], ...] = ()
    clean_files: tuple[str, ...] = ()
    clean_output_files: tuple[str, ...] = ()
    print_env_at_the_end: FrozenMap[str, str] = EMPTY
    print_files_if_script_error: tuple[str, ...] = ()
    predeps: bool = True
    min_version: str | None = None
    customize: FrozenMap[str, Any] = EMPTY
    docs: FrozenMap[str, Any] = field(default=EMPTY, compare=False)
    digest: str = field(default="", compare=False)

    @property
    def ident(self) -> str:
        """``alias,uid`` as CM writes it."""
        return f"{self.alias},{self.uid}"

    def variation(self, name: str) -> Variation | None:
        """Return the variation ``name``, a dynamic ``prefix.#`` that matches it, or None."""
        found = self.variations.get(name)
        if found is not None:
            return found
        if "." in name and not name.endswith("."):
            return self.variations.get(name.split(".", 1)[0] + ".#")
        return None

    def groups(self) -> dict[str, list[str]]:
        """Return ``group -> members`` in meta order."""
        result: dict[str, list[str]] = {}
        for var in self.variations.values():
            if var.group is not None:
                result.setdefault(var.group, []).append(var.name)
        return result


_NON_SEMANTIC = {"path", "meta_files", "docs", "digest", "warnings"}


def to_jsonable(value: Any, *, semantic: bool = False) -> Any:
    """Return ``value`` (dataclasses, FrozenMaps, tuples, enums) as plain JSON data.

    With ``semantic=True`` the fields that do not change what a script does (its location on
    disk, documentation, the digest itself) are left out; the result is what the digest hashes.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name), semantic=semantic)
            for f in fields(value)
            if not (semantic and f.name in _NON_SEMANTIC)
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, semantic=semantic) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(v, semantic=semantic) for v in value]
    return value


def dep_to_raw(dep: DepSpec) -> dict[str, Any]:
    """The raw form of ``dep`` (meta keys, defaults left out); ``inputs`` become top-level keys."""
    from .._util.frozen import thaw

    raw: dict[str, Any] = {}
    defaults = DepSpec(tags="")
    for f in fields(DepSpec):
        value = getattr(dep, f.name)
        if f.name == "inputs" or (value == getattr(defaults, f.name) and f.name != "tags"):
            continue
        raw[f.name] = thaw(value)
    raw.update(thaw(dep.inputs))
    return raw
