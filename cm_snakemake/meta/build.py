"""Building the typed meta: raw meta data of one script, validated once, into a ScriptMeta.

:func:`build_script_meta` turns the merged raw meta of one script (see
:mod:`cm_snakemake.meta.metafile`) into a :class:`~cm_snakemake.meta.model.ScriptMeta`.
Unknown keys become warnings that name the file, the line and the key; values of a wrong
shape that make the script unusable raise :class:`~cm_snakemake.errors.MetaError`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from .._util.frozen import FrozenMap, freeze
from ..errors import MetaError, Where
from .dialect import Dialect
from .keyed import KeyedDict
from .model import (
    DEP_LISTS,
    Conditions,
    DepSpec,
    EnvValue,
    MetaWarning,
    Patch,
    ScriptMeta,
    Variation,
    to_jsonable,
)

__all__ = ["build_script_meta", "dep_from_raw"]

# -- key tables ------------------------------------------------------------------------------

_PATCH_KEYS = {
    "env", "default_env", "const", "state", "const_state", *DEP_LISTS, "add_deps", "ad",
    "add_deps_recursive", "adr", "input_mapping", "new_env_keys", "new_state_keys",
    "script_name", "default_version", "default_variations", "docker", "update_meta_if_env",
    "resources", "cache_expiration", "warnings", "warning", "required_disk_space",
}  # fmt: skip
_VARIATION_KEYS = _PATCH_KEYS | {"group", "default", "base", "alias", "cache"}
_DOC_KEYS = {
    "category", "category_sort", "name", "developers", "tags_help", "input_description",
    "variation_groups_order", "gui", "tests", "repo_to_report_errors", "private",
    "automation_alias", "automation_uid", "sudo_install", "file_path_env_keys",
    "folder_path_env_keys", "variation_tags_alias",
}  # fmt: skip
_SCRIPT_KEYS = (
    _PATCH_KEYS
    | _DOC_KEYS
    | {
        "alias", "uid", "tags", "sort", "cache", "can_force_cache", "local_env_keys",
        "clean_env_keys_post_deps", "docker_input_mapping", "variations", "default_variation",
        "valid_variation_combinations", "invalid_variation_combinations", "version",
        "version_min", "version_max", "version_max_usable", "versions", "env_key_mappings",
        "extra_cache_tags_from_env", "clean_files", "clean_output_files",
        "print_env_at_the_end", "print_files_if_script_error", "predeps", "min_cm_version",
        "min_mlc_version", "customize",
    }
)  # fmt: skip
_DEP_KEYS = {f.name for f in fields(DepSpec)} - {"inputs", "add_deps", "add_deps_recursive"}
_DEP_KEYS |= {"ad", "add_deps", "adr", "add_deps_recursive"}
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0", ""}


# -- the builder -----------------------------------------------------------------------------


class _Reader:
    """Converts raw values to typed ones, collecting warnings; one per script file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.warnings: list[MetaWarning] = []

    def warn(self, where: Where, message: str) -> None:
        self.warnings.append(MetaWarning(where, message))

    @staticmethod
    def where(raw: Any, key: str | None = None) -> Where:
        if isinstance(raw, KeyedDict):
            return raw.where(key)
        return Where("?")

    def fail(self, raw: Any, key: str, message: str) -> MetaError:
        return MetaError(self.where(raw, key), message, key=key)

    def mapping(self, raw: Any, key: str) -> Mapping[str, Any]:
        value = raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(raw, key, f"must be a mapping, not {_kind(value)}")
        return value

    def text(self, raw: Any, key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, list | dict):
            raise self.fail(raw, key, f"must be a single value, not {_kind(value)}")
        return _scalar_text(value)

    def flag(self, raw: Any, key: str, default: bool = False) -> bool:
        value = raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = _scalar_text(value).strip().lower() if not isinstance(value, list | dict) else "?"
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.warn(self.where(raw, key), f"key '{key}': '{value}' is not yes/no; read as yes")
        return True

    def text_list(self, raw: Any, key: str) -> tuple[str, ...]:
        value = raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            if value.strip() == "":
                return ()
            self.warn(self.where(raw, key), f"key '{key}': expected a list, got a string")
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list):
            if any(isinstance(v, list | dict) for v in value):
                raise self.fail(raw, key, "must be a list of values")
            return tuple(_scalar_text(v) for v in value if v is not None)
        if isinstance(value, dict):
            raise self.fail(raw, key, "must be a list, not a mapping")
        return (_scalar_text(value),)

    def env(self, raw: Any, key: str) -> FrozenMap[str, EnvValue]:
        result: dict[str, EnvValue] = {}
        for name, value in self.mapping(raw, key).items():
            if isinstance(value, list):
                result[name] = tuple(_scalar_text(v) for v in value if v is not None)
            elif isinstance(value, dict):
                raise MetaError(
                    self.where(raw, key), f"env value of '{name}' is a mapping", key=key
                )
            else:
                result[name] = "" if value is None else _scalar_text(value)
        return FrozenMap(result)

    def text_map(self, raw: Any, key: str) -> FrozenMap[str, str]:
        result: dict[str, str] = {}
        for name, value in self.mapping(raw, key).items():
            if isinstance(value, list | dict):
                raise self.fail(raw, key, f"value of '{name}' must be a single value")
            result[name] = "" if value is None else _scalar_text(value)
        return FrozenMap(result)

    def conditions(self, raw: Any, key: str) -> Conditions:
        result: dict[str, tuple[str, ...]] = {}
        for name, value in self.mapping(raw, key).items():
            values = value if isinstance(value, list) else [value]
            result[name] = tuple("" if v is None else _scalar_text(v) for v in values)
        return FrozenMap(result)

    def unknown_keys(self, raw: KeyedDict, known: set[str], what: str) -> None:
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.warn(raw.where(key), f"unknown key '{key}' in {what}; ignored{hint}")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # JSON true/false; CM stringifies with str()
        return str(value)
    return str(value)


def _dep(rd: _Reader, raw: Any, where: str) -> DepSpec:
    if not isinstance(raw, dict):
        raise MetaError(
            Where(rd.path), f"a dependency in {where} must be a mapping, not {_kind(raw)}"
        )
    tags = raw.get("tags")
    if isinstance(tags, list):
        tags = ",".join(_scalar_text(t) for t in tags)
    inputs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _DEP_KEYS:
            continue
        close = difflib.get_close_matches(key, _DEP_KEYS, n=1, cutoff=0.8)
        if close or not key.replace("_", "").replace("-", "").isalnum():
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            rd.warn(
                rd.where(raw, key),
                f"dependency '{tags}' in {where}: unknown key '{key}' is passed to the "
                f"child as an input{hint}",
            )
        inputs[key] = value
    return DepSpec(
        tags="" if tags is None else _scalar_text(tags),
        names=rd.text_list(raw, "names"),
        enable_if_env=rd.conditions(raw, "enable_if_env"),
        enable_if_any_env=rd.conditions(raw, "enable_if_any_env"),
        skip_if_env=rd.conditions(raw, "skip_if_env"),
        skip_if_any_env=rd.conditions(raw, "skip_if_any_env"),
        skip_if_fake_run=rd.flag(raw, "skip_if_fake_run"),
        dynamic=rd.flag(raw, "dynamic"),
        env=rd.env(raw, "env"),
        state=freeze(rd.mapping(raw, "state")),
        const=rd.env(raw, "const"),
        const_state=freeze(rd.mapping(raw, "const_state")),
        version=rd.text(raw, "version"),
        version_min=rd.text(raw, "version_min"),
        version_max=rd.text(raw, "version_max"),
        version_max_usable=rd.text(raw, "version_max_usable"),
        force_env_keys=rd.text_list(raw, "force_env_keys"),
        reuse_version=rd.flag(raw, "reuse_version"),
        update_tags_from_env=rd.text_list(raw, "update_tags_from_env"),
        update_tags_from_env_with_prefix=FrozenMap(
            {
                prefix: tuple(keys) if isinstance(keys, list) else (_scalar_text(keys),)
                for prefix, keys in rd.mapping(raw, "update_tags_from_env_with_prefix").items()
            }
        ),
        update_tags_if_env=freeze(rd.mapping(raw, "update_tags_if_env")),
        update_meta_if_env=freeze(raw.get("update_meta_if_env") or ()),
        inherit_variation_tags=rd.flag(raw, "inherit_variation_tags"),
        skip_inherit_variation_groups=rd.text_list(raw, "skip_inherit_variation_groups"),
        force_cache=rd.flag(raw, "force_cache") if "force_cache" in raw else None,
        skip_cache=rd.flag(raw, "skip_cache") if "skip_cache" in raw else None,
        extra_cache_tags=rd.text(raw, "extra_cache_tags"),
        force_new_env_keys=(
            rd.text_list(raw, "force_new_env_keys") if "force_new_env_keys" in raw else None
        ),
        force_new_state_keys=(
            rd.text_list(raw, "force_new_state_keys") if "force_new_state_keys" in raw else None
        ),
        add_deps=_patches(rd, raw, "ad", "add_deps"),
        add_deps_recursive=_patches(rd, raw, "adr", "add_deps_recursive"),
        continue_on_error=rd.flag(raw, "continue_on_error"),
        ignore_missing=rd.flag(raw, "ignore_missing"),
        cache_expiration=rd.text(raw, "cache_expiration"),
        inherit_cache_expiration=rd.flag(raw, "inherit_cache_expiration"),
        inputs=freeze(inputs),
    )


def _patches(rd: _Reader, raw: Any, short: str, long: str) -> FrozenMap[str, Any]:
    """Merge ``add_deps``/``ad`` (or ``add_deps_recursive``/``adr``); the short key wins."""
    merged: dict[str, Any] = {}
    for key in (long, short):
        for name, patch in rd.mapping(raw, key).items():
            if not isinstance(patch, Mapping):
                rd.warn(
                    rd.where(raw, key),
                    f"key '{key}': patch for dependency name '{name}' is not a mapping "
                    f"({_kind(patch)}); ignored",
                )
                continue
            merged[name] = {**merged.get(name, {}), **patch}
    frozen: FrozenMap[str, Any] = freeze(merged)
    return frozen


def _dep_list(rd: _Reader, raw: Any, key: str, owner: str) -> tuple[DepSpec, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise rd.fail(raw, key, f"must be a list of dependencies, not {_kind(value)}")
    return tuple(_dep(rd, d, f"{owner} {key}") for d in value)


def _patch_fields(rd: _Reader, raw: Any, owner: str) -> dict[str, Any]:
    warnings = [*rd.text_list(raw, "warnings"), *rd.text_list(raw, "warning")]
    return {
        "env": rd.env(raw, "env"),
        "default_env": rd.env(raw, "default_env"),
        "const": rd.env(raw, "const"),
        "state": freeze(rd.mapping(raw, "state")),
        "const_state": freeze(rd.mapping(raw, "const_state")),
        **{name: _dep_list(rd, raw, name, owner) for name in DEP_LISTS},
        "add_deps": _patches(rd, raw, "ad", "add_deps"),
        "add_deps_recursive": _patches(rd, raw, "adr", "add_deps_recursive"),
        "input_mapping": rd.text_map(raw, "input_mapping"),
        "new_env_keys": rd.text_list(raw, "new_env_keys"),
        "new_state_keys": rd.text_list(raw, "new_state_keys"),
        "script_name": rd.text(raw, "script_name"),
        "default_version": rd.text(raw, "default_version"),
        "default_variations": rd.text_map(raw, "default_variations"),
        "docker": freeze(rd.mapping(raw, "docker")),
        "update_meta_if_env": freeze(raw.get("update_meta_if_env") or ()),
        "resources": rd.text_map(raw, "resources"),
        "cache_expiration": rd.text(raw, "cache_expiration"),
        "warnings": tuple(warnings),
    }


def _variation(rd: _Reader, name: str, raw: Any) -> Variation:
    if raw is None:
        raw = KeyedDict(rd.path)
    if not isinstance(raw, KeyedDict):
        raise MetaError(Where(rd.path), f"variation '{name}' must be a mapping, not {_kind(raw)}")
    rd.unknown_keys(raw, _VARIATION_KEYS, f"variation '{name}'")
    is_default = False
    if "default" in raw:
        text = raw["default"]
        is_default = not (isinstance(text, str) and text.strip().lower() in _FALSE - {""})
        if isinstance(text, str) and text.strip().lower() not in _TRUE | _FALSE:
            rd.warn(raw.where("default"), f"variation '{name}': default '{text}' read as yes")
    return Variation(
        **_patch_fields(rd, raw, f"variation '{name}'"),
        name=name,
        group=rd.text(raw, "group"),
        is_default=is_default,
        alias=rd.text(raw, "alias"),
        base=rd.text_list(raw, "base"),
        cache=rd.flag(raw, "cache") if raw.get("cache") is not None else None,
    )


def _extra_cache_tags(rd: _Reader, raw: Any) -> tuple[FrozenMap[str, str], ...]:
    key = "extra_cache_tags_from_env"
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise rd.fail(raw, key, f"must be a list of mappings, not {_kind(value)}")
    return tuple(
        FrozenMap({str(k): _scalar_text(v) for k, v in item.items()})
        for item in value
        if isinstance(item, dict)
    )


def _combinations(rd: _Reader, raw: Any, key: str) -> tuple[tuple[str, ...], ...]:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise rd.fail(raw, key, "must be a list of lists of variation names")
    result = []
    for combo in value:
        items = combo.split(",") if isinstance(combo, str) else combo
        if not isinstance(items, list):
            raise rd.fail(raw, key, "must be a list of lists of variation names")
        result.append(tuple(_scalar_text(v).strip() for v in items))
    return tuple(result)


def build_script_meta(
    raw: KeyedDict, *, path: str, meta_files: tuple[str, ...], dialect: Dialect
) -> tuple[ScriptMeta, list[MetaWarning]]:
    """Validate the merged raw meta of the script in ``path``; return it typed, with warnings."""
    rd = _Reader(raw.path)
    for key in ("alias", "uid", "tags"):
        if key not in raw or raw[key] in (None, "", []):
            raise MetaError(
                raw.where(),
                f"the required key '{key}' is missing",
                hint=f"Every script meta needs 'alias', 'uid' and 'tags'; add '{key}'.",
            )
    rd.unknown_keys(raw, _SCRIPT_KEYS, "the script meta")
    if "_base" in raw:
        rd.warn(raw.where("_base"), "'_base' inheritance is not supported; ignored")
    variations: dict[str, Variation] = {}
    for name, var_raw in rd.mapping(raw, "variations").items():
        variations[str(name)] = _variation(rd, str(name), var_raw)
    versions: dict[str, Patch] = {}
    for name, ver_value in rd.mapping(raw, "versions").items():
        ver_raw = KeyedDict(rd.path) if ver_value is None else ver_value
        if not isinstance(ver_raw, KeyedDict):
            raise rd.fail(raw, "versions", f"version '{name}' must be a mapping")
        rd.unknown_keys(ver_raw, _PATCH_KEYS, f"version '{name}'")
        versions[str(name)] = Patch(**_patch_fields(rd, ver_raw, f"version '{name}'"))
    sort_text = rd.text(raw, "sort") or "0"
    try:
        sort = int(float(sort_text))
    except (ValueError, OverflowError):  # not a number, or nan/inf
        raise rd.fail(raw, "sort", f"'{sort_text}' is not a number") from None
    min_version = rd.text(raw, "min_mlc_version" if dialect == Dialect.MLC else "min_cm_version")
    meta = ScriptMeta(
        **_patch_fields(rd, raw, "the script"),
        alias=rd.text(raw, "alias") or "",
        uid=(rd.text(raw, "uid") or "").lower(),
        tags=rd.text_list(raw, "tags"),
        dialect=dialect,
        path=path,
        meta_files=meta_files,
        sort=sort,
        cache=rd.flag(raw, "cache"),
        can_force_cache=rd.flag(raw, "can_force_cache"),
        local_env_keys=rd.text_list(raw, "local_env_keys"),
        clean_env_keys_post_deps=rd.text_list(raw, "clean_env_keys_post_deps"),
        docker_input_mapping=rd.text_map(raw, "docker_input_mapping"),
        variations=FrozenMap(variations),
        default_variation=rd.text(raw, "default_variation"),
        valid_variation_combinations=_combinations(rd, raw, "valid_variation_combinations"),
        invalid_variation_combinations=_combinations(rd, raw, "invalid_variation_combinations"),
        version=rd.text(raw, "version"),
        version_min=rd.text(raw, "version_min"),
        version_max=rd.text(raw, "version_max"),
        version_max_usable=rd.text(raw, "version_max_usable"),
        versions=FrozenMap(versions),
        env_key_mappings=rd.text_map(raw, "env_key_mappings"),
        extra_cache_tags_from_env=_extra_cache_tags(rd, raw),
        clean_files=rd.text_list(raw, "clean_files"),
        clean_output_files=rd.text_list(raw, "clean_output_files"),
        print_env_at_the_end=rd.text_map(raw, "print_env_at_the_end"),
        print_files_if_script_error=rd.text_list(raw, "print_files_if_script_error"),
        predeps=rd.flag(raw, "predeps", default=True),
        min_version=min_version,
        customize=freeze(rd.mapping(raw, "customize")),
        docs=freeze({k: raw[k] for k in _DOC_KEYS if k in raw}),
    )
    _check_variation_refs(rd, meta, raw)
    digest = hashlib.sha256(
        json.dumps(to_jsonable(meta, semantic=True), sort_keys=True).encode()
    ).hexdigest()
    object.__setattr__(meta, "digest", digest)
    return meta, rd.warnings


def _check_variation_refs(rd: _Reader, meta: ScriptMeta, raw: KeyedDict) -> None:
    """Warn about variation references (base, alias, defaults) that name no variation."""
    where = raw.where("variations")
    defaults: dict[str, list[str]] = {}
    for var in meta.variations.values():
        refs = [*var.base, *(var.default_variations.values())]
        refs += [var.alias] if var.alias else []
        for ref in refs:
            if meta.variation(ref.lstrip("~")) is None:
                rd.warn(where, f"variation '{var.name}' refers to unknown variation '{ref}'")
        if var.is_default and var.group is not None:
            defaults.setdefault(var.group, []).append(var.name)
    for group, names in defaults.items():
        if len(names) > 1:
            rd.warn(where, f"group '{group}' has several defaults: {', '.join(names)}")
    if meta.default_variation and meta.variation(meta.default_variation) is None:
        rd.warn(
            raw.where("default_variation"),
            f"default_variation '{meta.default_variation}' is not a variation",
        )


def dep_from_raw(raw: Mapping[str, Any], where: str = "a patched dependency") -> DepSpec:
    """Build a :class:`DepSpec` from raw dependency data (used to re-type patched entries)."""
    from .keyed import KeyedDict

    keyed = KeyedDict(where)
    keyed.update(raw)
    return _dep(_Reader(where), keyed, where)
