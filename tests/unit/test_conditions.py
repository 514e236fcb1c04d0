"""Dependency conditions: CM's truthiness table (docs/cm-behaviour.md §5.1), three-valued."""

from __future__ import annotations

import pytest

from cm_snakemake.meta.build import dep_from_raw
from cm_snakemake.plan.conditions import Tri, dep_enabled, key_matches
from cm_snakemake.plan.penv import PEnv, Unknown


@pytest.mark.parametrize(
    ("value", "expected", "result"),
    [
        ("yes", ("yes",), Tri.TRUE),
        ("True", ("on",), Tri.TRUE),
        ("anything", ("yes",), Tri.TRUE),
        ("no", ("yes",), Tri.FALSE),
        ("", ("yes",), Tri.FALSE),
        (None, ("yes",), Tri.FALSE),
        ("off", ("no",), Tri.TRUE),
        ("", ("off",), Tri.TRUE),
        (None, ("off",), Tri.TRUE),  # an absent key counts as false
        ("x", ("off",), Tri.FALSE),
        ("ubuntu", ("ubuntu", "debian"), Tri.TRUE),
        ("UBUNTU ", ("ubuntu",), Tri.TRUE),
        ("rhel", ("ubuntu",), Tri.FALSE),
        (None, ("ubuntu",), Tri.FALSE),
        ("yes", ("on", "yes", "True", "true"), Tri.TRUE),
        (Unknown("preprocess"), ("yes",), Tri.UNKNOWN),
    ],
)
def test_key_matches(value: str | None, expected: tuple[str, ...], result: Tri) -> None:
    assert key_matches(value, expected) is result


def test_any_forms_never_match_an_absent_key() -> None:
    assert key_matches(None, ("off",), any_form=True) is Tri.FALSE


def test_mlc_treats_placeholders_as_unset() -> None:
    assert key_matches("<<<X>>>", ("yes",), mlc=True) is Tri.FALSE
    assert key_matches("<<<X>>>", ("yes",)) is Tri.TRUE


def dep(**conditions: object) -> object:
    return dep_from_raw({"tags": "x", **conditions})


def test_enable_and_skip_combine() -> None:
    env = PEnv({"A": "yes", "B": "no"})
    assert dep_enabled(dep(enable_if_env={"A": ["yes"]}), env) is Tri.TRUE  # type: ignore[arg-type]
    assert dep_enabled(dep(enable_if_env={"A": ["yes"], "B": ["yes"]}), env) is Tri.FALSE  # type: ignore[arg-type]
    assert dep_enabled(dep(enable_if_any_env={"A": ["no"], "B": ["no"]}), env) is Tri.TRUE  # type: ignore[arg-type]
    assert dep_enabled(dep(skip_if_env={"A": ["yes"]}), env) is Tri.FALSE  # type: ignore[arg-type]
    assert dep_enabled(dep(skip_if_env={"A": ["yes"], "B": ["yes"]}), env) is Tri.TRUE  # type: ignore[arg-type]
    assert dep_enabled(dep(skip_if_any_env={"A": ["no"], "B": ["no"]}), env) is Tri.FALSE  # type: ignore[arg-type]
    assert dep_enabled(dep(skip_if_fake_run=True), env, fake_run=True) is Tri.FALSE  # type: ignore[arg-type]


def test_unknown_values_make_the_answer_unknown_unless_decided_otherwise() -> None:
    env = PEnv({"A": "no", "U": Unknown("preprocess of x")})
    assert dep_enabled(dep(enable_if_env={"U": ["yes"]}), env) is Tri.UNKNOWN  # type: ignore[arg-type]
    # AND with a known false is false whatever the unknown is
    assert dep_enabled(dep(enable_if_env={"U": ["yes"], "A": ["yes"]}), env) is Tri.FALSE  # type: ignore[arg-type]
    # OR with a known true is true
    assert dep_enabled(dep(enable_if_any_env={"U": ["yes"], "A": ["no"]}), env) is Tri.TRUE  # type: ignore[arg-type]
    assert dep_enabled(dep(skip_if_env={"U": ["yes"]}), env) is Tri.UNKNOWN  # type: ignore[arg-type]
