"""The persisted index never goes stale and survives a corrupt cache file."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from cm_snakemake._util.reporting import RecordingReporter
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex

from ..conftest import RepoMaker


def meta(alias: str, tags: str) -> str:
    return f"alias: {alias}\nuid: '{'0' * 15}{len(alias) % 10}'\ntags: [{tags}]\n"


@pytest.fixture
def repo(make_repo: RepoMaker) -> Path:
    return make_repo("r", {"a": meta("a", "x,a"), "b": meta("b", "x,b")})


def load(repo: Path, cache: Path) -> ScriptIndex:
    return ScriptIndex([open_repository(repo)], cache_dir=cache, reporter=RecordingReporter())


def bump(path: Path) -> None:
    """Make sure a rewrite is seen even on file systems with coarse timestamps."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_warm_load_reads_nothing(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    assert load(repo, cache).reread == 2
    warm = load(repo, cache)
    assert warm.reread == 0
    assert sorted(e.alias for e in warm) == ["a", "b"]
    assert warm.meta(next(iter(warm))).tags == ("x", "a")


def test_changed_added_and_removed_scripts_are_seen(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    load(repo, cache)
    changed = repo / "script" / "a" / "_cm.yaml"
    changed.write_text(meta("a", "x,a,new"))
    bump(changed)
    (repo / "script" / "c").mkdir()
    (repo / "script" / "c" / "_cm.yaml").write_text(meta("c", "x,c"))
    shutil.rmtree(repo / "script" / "b")
    index = load(repo, cache)
    assert index.reread == 2
    tags = {e.alias: e.tags for e in index}
    assert tags == {"a": ("x", "a", "new"), "c": ("x", "c")}
    assert load(repo, cache).reread == 0


def test_a_json_file_added_next_to_yaml_is_seen(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    load(repo, cache)
    (repo / "script" / "a" / "_cm.json").write_text('{"tags": ["from-json"]}')
    index = load(repo, cache)
    assert {e.alias: e.tags for e in index}["a"] == ("from-json",)


def test_broken_script_is_kept_as_an_error_entry(repo: Path, tmp_path: Path) -> None:
    bad = repo / "script" / "b" / "_cm.yaml"
    bad.write_text("alias: b\ntags: [x\n")
    index = load(repo, tmp_path / "idx")
    (broken,) = index.broken()
    assert broken.alias == "b"
    assert f"{bad}:" in (broken.error or "")
    assert [e.alias for e in index.usable()] == ["a"]


def test_corrupt_cache_file_is_rebuilt(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    load(repo, cache)
    for file in cache.iterdir():
        file.write_bytes(b"not a snapshot")
    index = load(repo, cache)
    assert index.reread == 2
    assert load(repo, cache).reread == 0


def test_unwritable_cache_still_works(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "idx"
    blocker.write_text("a file where the folder should be")
    index = load(repo, blocker)
    assert len(index) == 2
    assert isinstance(index.reporter, RecordingReporter)
    assert any("cannot save" in n for n in index.reporter.of("note"))


def test_index_of_the_same_second_edit(repo: Path, tmp_path: Path) -> None:
    """An edit that keeps size and lands in the same timestamp tick is still seen (inode)."""
    cache = tmp_path / "idx"
    load(repo, cache)
    path = repo / "script" / "a" / "_cm.yaml"
    st = path.stat()
    replacement = path.with_name("_cm.yaml.new")
    replacement.write_text(meta("a", "y,a"))  # same length as "x,a"
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, path)
    time.sleep(0)
    assert {e.alias: e.tags for e in load(repo, cache)}["a"] == ("y", "a")


def test_typed_meta_without_its_snapshot_is_read_again(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    load(repo, cache)
    for file in cache.glob("*.metas.marshal"):
        file.unlink()
    index = load(repo, cache)
    assert index.reread == 0  # the entries snapshot is still good
    entry = next(e for e in index if e.alias == "a")
    assert index.meta(entry).tags == ("x", "a")


def test_typed_meta_snapshot_follows_changes(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    load(repo, cache)
    changed = repo / "script" / "b" / "_cm.yaml"
    changed.write_text(meta("b", "x,b,changed"))
    bump(changed)
    load(repo, cache)  # rewrites both snapshots
    index = load(repo, cache)
    assert index.reread == 0
    by_alias = {e.alias: e for e in index}
    assert index.meta(by_alias["b"]).tags == ("x", "b", "changed")
    assert index.meta(by_alias["a"]).tags == ("x", "a")
