"""Cache entries are never writable by others, whatever umask a script runs with; a team
cache (CMSM_CACHE_GROUP_WRITABLE=1) is writable by the group."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

SLOPPY = """\
mkdir -p sub && chmod 777 sub
echo data > sub/data.bin && chmod 666 sub/data.bin
echo "CM_OUT=$PWD/sub/data.bin" >> tmp-run-env.out
"""


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # everything the process and the script create is world-writable
    yield
    os.umask(old)


@pytest.fixture
def sloppy(make_repo: RepoMaker) -> None:
    meta = (
        "alias: sloppy\nuid: '00000000000000c1'\ntags: [sloppy]\ncache: true\n"
        "automation_alias: script\nnew_env_keys: [CM_OUT]\n"
    )
    root = make_repo("sloppy", {"sloppy": meta}, files={"sloppy/run.sh": SLOPPY})
    assert cli("repo", "add", str(root))[0] == 0


def modes(home: Path) -> dict[str, int]:
    base = home / "cache" / "sloppy"
    paths = [base, *base.rglob("*")]
    return {
        str(p.relative_to(base)): stat.S_IMODE(p.lstat().st_mode)
        for p in paths
        if not p.name.startswith(".")
    }


def test_nothing_in_an_entry_is_writable_by_others(
    open_umask: None, sloppy: None, home: Path
) -> None:
    code, _, err = cli("run", "sloppy")
    assert code == 0, err
    found = modes(home)
    assert any(name.endswith("data.bin") for name in found)
    assert {name: mode for name, mode in found.items() if mode & stat.S_IWOTH} == {}
    results = [mode for name, mode in found.items() if name.endswith("cmsm-result.json")]
    assert results == [0o644]


def test_a_team_cache_is_writable_by_the_group(
    open_umask: None, sloppy: None, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMSM_CACHE_GROUP_WRITABLE", "1")
    code, _, err = cli("run", "sloppy")
    assert code == 0, err
    found = modes(home)
    assert all(mode & stat.S_IWGRP and not mode & stat.S_IWOTH for mode in found.values())
    folders = [home / "cache" / "sloppy" / name for name in found]
    assert all(p.stat().st_mode & stat.S_ISGID for p in folders if p.is_dir())
