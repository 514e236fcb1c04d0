"""Typed meta: validation, warnings for typos, errors for unusable metas, the digest."""

from __future__ import annotations

import pytest

from cm_snakemake.errors import MetaError
from cm_snakemake.meta.build import build_script_meta
from cm_snakemake.meta.metafile import load_yaml_text
from cm_snakemake.meta.model import Dialect, ScriptMeta


def build(text: str, dialect: Dialect = Dialect.CM) -> tuple[ScriptMeta, list[str]]:
    raw, _ = load_yaml_text(text, "s/_cm.yaml")
    meta, warnings = build_script_meta(raw, path="s", meta_files=("s/_cm.yaml",), dialect=dialect)
    return meta, [str(w) for w in warnings]


BASE = "alias: s\nuid: '1234567890123456'\ntags: [get, s]\n"


def test_identity_and_yaml_pitfalls() -> None:
    meta, warnings = build(
        "alias: s\nuid: 1234567890123456\ntags: [get, s]\ncache: yes\nsort: 100\n"
        "default_version: 20.10\nenv:\n  CM_FLAG: off\n  CM_N: 8\n  +PATH: [a, b]\n"
    )
    assert warnings == []
    assert meta.uid == "1234567890123456"
    assert meta.cache is True
    assert meta.sort == 100
    assert meta.default_version == "20.10"
    assert meta.env == {"CM_FLAG": "off", "CM_N": "8", "+PATH": ("a", "b")}


def test_variations_are_typed() -> None:
    meta, _ = build(
        BASE
        + """
variations:
  a:
    group: g
    default: true
    env: {X: '1'}
  b:
    group: g
    base: [c]
    default_variations: {h: d}
  c: {}
  d: {group: h}
  batch.#:
    env: {B: '#'}
  a,c:
    env: {AC: 'yes'}
  e:
    alias: a
"""
    )
    assert meta.variations["a"].is_default
    assert meta.variations["b"].base == ("c",)
    assert meta.variations["b"].default_variations == {"h": "d"}
    assert meta.variations["batch.#"].is_dynamic
    assert meta.variations["a,c"].parts == ("a", "c")
    assert meta.variation("batch.16") is meta.variations["batch.#"]
    assert meta.variation("nope") is None
    assert meta.groups() == {"g": ["a", "b"], "h": ["d"]}


def test_default_false_is_not_a_default() -> None:
    meta, _ = build(BASE + "variations:\n  a:\n    group: g\n    default: false\n")
    assert not meta.variations["a"].is_default


def test_unknown_keys_warn_with_file_line_and_key() -> None:
    _, warnings = build(
        BASE
        + """
variations:
  a:
    alis: b
    default-variations: {g: x}
deps:
- tags: get,x
  update_tags_from_env_with_prefix1: {_url.: [U]}
  md5sum: abc
print_env_at_the_end_disabled: {}
"""
    )
    joined = "\n".join(warnings)
    assert (
        "s/_cm.yaml:7: unknown key 'alis' in variation 'a'; ignored (did you mean 'alias'?)"
        in joined
    )
    assert "unknown key 'default-variations' in variation 'a'" in joined
    assert "'update_tags_from_env_with_prefix1' is passed to the child as an input" in joined
    assert "did you mean 'update_tags_from_env_with_prefix'" in joined
    assert "print_env_at_the_end_disabled" in joined
    assert "md5sum" not in joined  # a legitimate child input, not a typo


def test_dep_entries_are_typed_and_extra_keys_become_inputs() -> None:
    meta, _ = build(
        BASE
        + """
deps:
- tags: get,python3
  names: [python, python3]
  enable_if_env: {CM_X: [yes, 'on']}
  skip_if_env: {CM_Y: off}
  version_min: 3.9
  force_env_keys: [CM_GIT_*]
  update_tags_from_env_with_prefix: {_url.: [CM_URL]}
  adr: {pip: {version: 1}}
  verify: 'no'
"""
    )
    (dep,) = meta.deps
    assert dep.names == ("python", "python3")
    assert dep.enable_if_env == {"CM_X": ("yes", "on")}
    assert dep.skip_if_env == {"CM_Y": ("off",)}  # a scalar is one value, not characters
    assert dep.version_min == "3.9"
    assert dep.update_tags_from_env_with_prefix == {"_url.": ("CM_URL",)}
    assert dep.add_deps_recursive == {"pip": {"version": "1"}}
    assert dep.inputs == {"verify": "no"}


@pytest.mark.parametrize("missing", ["alias", "uid", "tags"])
def test_missing_required_key_is_an_error(missing: str) -> None:
    text = "\n".join(
        line
        for line in ["alias: s", "uid: '1234567890123456'", "tags: [a]"]
        if not line.startswith(missing)
    )
    with pytest.raises(MetaError) as info:
        build(text + "\n")
    assert f"required key '{missing}' is missing" in str(info.value)
    assert "s/_cm.yaml" in str(info.value)


def test_wrong_shapes_are_errors_with_line() -> None:
    with pytest.raises(MetaError) as info:
        build(BASE + "deps: get,python3\n")
    assert "s/_cm.yaml:4: key 'deps'" in str(info.value)


def test_digest_follows_meaning_not_formatting() -> None:
    a, _ = build(BASE + "cache: true\nenv:\n  X: 'off'\n")
    b, _ = build(
        '# a comment\ntags:\n- get\n- s\nuid: "1234567890123456"\nalias: s\n'
        "env: {X: off}\ncache: yes\n"
    )
    c, _ = build(BASE + "cache: true\nenv:\n  X: 'on'\n")
    assert a.digest == b.digest
    assert a.digest != c.digest


def test_mlc_dialect_keys() -> None:
    meta, warnings = build(
        BASE + "predeps: false\ncache_expiration: 1d\nmin_mlc_version: 1.0\n"
        "default_variations: {g: a}\n",
        Dialect.MLC,
    )
    assert warnings == []
    assert meta.predeps is False
    assert meta.cache_expiration == "1d"
    assert meta.min_version == "1.0"
    assert meta.dialect.env_prefix == "MLC_"


def test_typed_meta_is_immutable() -> None:
    meta, _ = build(BASE + "env: {X: '1'}\n")
    with pytest.raises(TypeError):
        meta.env["X"] = "2"  # type: ignore[index]
    with pytest.raises(AttributeError):
        meta.alias = "t"  # type: ignore[misc]
