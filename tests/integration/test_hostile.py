"""Hostile values never execute and never leave the cache root: dynamic variation values,
aliases and tags with path parts and shell metacharacters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

ECHO = 'echo "CM_SEEN=$CM_P" >> tmp-run-env.out\n'
# Values reach a script as CM's `export K="value"` gives them, so `${IFS}` would expand to
# whitespace; these use a space instead (native.double_quoted)
VALUES = ["../../etc", ";touch pwned;", "`touch pwned`", "$(touch pwned)", "a'b\"c",
          "x|touch pwned&", "$(touch${IFS}pwned)"]  # fmt: skip


@pytest.fixture
def hostile(make_repo: RepoMaker) -> Path:
    meta = (
        "alias: echoer\nuid: '00000000000000b1'\ntags: [echoer]\ncache: true\n"
        "automation_alias: script\nnew_env_keys: [CM_SEEN]\n"
        "variations:\n  path.#:\n    env:\n      CM_P: '#'\n"
    )
    root = make_repo("hostile", {"echoer": meta}, files={"echoer/run.sh": ECHO})
    assert cli("repo", "add", str(root))[0] == 0
    return root


@pytest.mark.parametrize("value", VALUES)
def test_a_dynamic_variation_value_is_data_not_code(
    hostile: Path, home: Path, tmp_path: Path, value: str
) -> None:
    code, out, err = cli("run", f"--tags=echoer,_path.{value}", "--json")
    assert code == 0, err
    seen = json.loads(out)["new_env"]["CM_SEEN"]
    assert seen == value or "${IFS}" in value  # passed through as it was
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()
    cache = (home / "cache").resolve()
    entries = list(cache.rglob("cmsm-result.json"))
    assert entries and all(e.resolve().is_relative_to(cache) for e in entries)
    assert not (home / "etc").exists() and not (home.parent / "etc").exists()


def test_an_alias_with_path_parts_stays_in_the_cache_root(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    meta = (
        "alias: ../../escape\nuid: '00000000000000b2'\ntags: [escape]\ncache: true\n"
        "automation_alias: script\nnew_env_keys: [CM_SEEN]\n"
    )
    root = make_repo("escaping", {"escape": meta}, files={"escape/run.sh": ECHO})
    assert cli("repo", "add", str(root))[0] == 0
    code, _, err = cli("run", "--tags=escape")
    assert code == 0, err
    cache = (home / "cache").resolve()
    entries = list(tmp_path.rglob("cmsm-result.json"))
    assert len(entries) == 1 and entries[0].resolve().is_relative_to(cache)
