"""Variation resolution (docs/cm-behaviour.md §3.4, §3.5), including CM's own probe results."""

from __future__ import annotations

import pytest

from cm_snakemake.meta.build import build_script_meta
from cm_snakemake.meta.metafile import load_yaml_text
from cm_snakemake.meta.model import Dialect, ScriptMeta
from cm_snakemake.plan.variations import VariationError, applied_metas, resolve_variations

PROBE = """
alias: t-cached
uid: '0000000000000001'
tags: [t, cached]
variations:
  small: {group: size, default: true, env: {T_SIZE: small}}
  big: {group: size, env: {T_SIZE: big}}
  fp32: {group: precision, default: true}
  int8: {group: precision, env: {T_CACHED_PREC: int8}}
  quant: {base: [int8]}
  batch.#: {env: {T_CACHED_BATCH: '#'}}
  big,int8: {env: {T_CACHED_COMBO: big-int8}}
  short: {alias: small}
  tiny: {default_variations: {size: small}}
"""


def meta(text: str = PROBE) -> ScriptMeta:
    raw, _ = load_yaml_text(text, "t/_cm.yaml")
    return build_script_meta(raw, path="t", meta_files=(), dialect=Dialect.CM)[0]


@pytest.mark.parametrize(
    ("requested", "resolved"),
    [
        (["quant"], ("quant", "int8", "small")),  # int8 fills precision, so no fp32
        (["big", "int8"], ("big", "int8")),
        (["batch.16"], ("batch.16", "small", "fp32")),
        ([], ("small", "fp32")),
        (["short"], ("short", "small", "fp32")),
        (["tiny"], ("tiny", "small", "fp32")),
    ],
)
def test_probe_results(requested: list[str], resolved: tuple[str, ...]) -> None:
    assert resolve_variations(meta(), requested).all == resolved


def test_group_conflict() -> None:
    with pytest.raises(VariationError) as info:
        resolve_variations(meta(), ["small", "big"])
    assert "_small, _big are all in group 'size'" in str(info.value)


def test_unknown_and_excluded() -> None:
    with pytest.raises(VariationError, match="no variation '_huge'"):
        resolve_variations(meta(), ["huge"])
    assert resolve_variations(meta(), ["big"], ["fp32"]).all == ("big",)  # excluded default
    with pytest.raises(VariationError, match="needs '_int8', which is excluded"):
        resolve_variations(meta(), ["quant"], ["int8"])
    with pytest.raises(VariationError, match="no variation '_big,int8'"):
        resolve_variations(meta(), ["big,int8"])  # a combined key cannot be requested


def test_application_order_and_dynamic_substitution() -> None:
    m = meta()
    applied = applied_metas(m, resolve_variations(m, ["big", "int8", "batch.8"]))
    names = [name for name, _ in applied]
    assert names == ["big", "big,int8", "int8", "big,int8", "batch.8", "big,int8"]
    batch = dict(applied)["batch.8"]
    assert batch.env == {"T_CACHED_BATCH": "8"}


def test_default_variation_and_combinations() -> None:
    m = meta(
        """
alias: s
uid: '0000000000000002'
tags: [s]
default_variation: a
variations: {a: {}, b: {}, c: {}}
valid_variation_combinations: [[a], [b]]
invalid_variation_combinations: [[a, c]]
"""
    )
    assert resolve_variations(m, []).all == ("a",)
    assert resolve_variations(m, ["b"]).all == ("b",)
    with pytest.raises(VariationError, match="cannot be used together"):
        resolve_variations(m, ["a", "c"])
    with pytest.raises(VariationError, match="not a valid combination"):
        resolve_variations(m, ["c"])
