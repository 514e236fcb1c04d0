"""The partially known env."""

from __future__ import annotations

from cm_snakemake.plan.penv import PEnv, Unknown, expand


def test_known_unknown_and_absent() -> None:
    env = PEnv({"A": "1"})
    assert env.get("A") == "1"
    assert env.get("B") is None
    u = Unknown("native script of s")
    env.write_unknown("CM_PYTHON_*", u)
    assert env.get("CM_PYTHON_BIN") == u
    assert env.get("A") == "1"
    env.set("CM_PYTHON_BIN", "/usr/bin/python3")  # a later known write wins
    assert env.get("CM_PYTHON_BIN") == "/usr/bin/python3"
    env.write_unknown("*", Unknown("preprocess"))
    assert env.get("A") == Unknown("preprocess")
    assert env.known() == {}


def test_setdefault_semantics() -> None:
    env = PEnv({"A": "set"})
    env.setdefault("A", "default")
    env.setdefault("B", "default")
    assert env.known() == {"A": "set", "B": "default"}
    env.write_unknown("C*", Unknown("x"))
    env.setdefault("C1", "default")
    value = env.get("C1")
    assert isinstance(value, Unknown) and "else the default" in value.source


def test_placeholders() -> None:
    env = PEnv({"V": "3.11", "U": Unknown("dep")})
    assert expand("python-<<<V>>>", env) == "python-3.11"
    assert expand("x-<<<MISSING>>>", env) == "x-<<<MISSING>>>"
    assert expand("x-<<<U>>>", env) == Unknown("dep")
    assert expand("plain", env) == "plain"
