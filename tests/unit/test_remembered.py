"""Remembered resolutions follow the facts file they were planned with, not its folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cm_snakemake.plan.remembered import Remembered, remember, request_key, resolve

from ..conftest import RepoMaker, cli

FACTS = {"format": 1, "host": "h", "created": "2026-01-01T00:00:00Z",
         "scripts": {"detect-os": {"CM_HOST_OS_TYPE": "linux",
                                   "CM_HOST_OS_VERSION": "1"}}}  # fmt: skip


def _write_facts(path: Path, version: str) -> None:
    facts = json.loads(json.dumps(FACTS))
    facts["scripts"]["detect-os"]["CM_HOST_OS_VERSION"] = version
    path.write_text(json.dumps(facts, indent=1) + "\n")


def _edit_in_place(path: Path, text: str) -> None:
    """Rewrite ``path`` (same inode, same folder) and make sure its mtime moves on."""
    before = path.stat()
    with path.open("r+") as fh:  # truncate and write: no new inode
        fh.truncate(0)
        fh.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_ino == before.st_ino


def test_an_edited_facts_file_changes_the_request_key(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    _write_facts(facts, "1")
    first = request_key("detect,os", None, {}, str(facts))
    assert request_key("detect,os", None, {}, str(facts)) == first  # stable while unchanged
    _edit_in_place(facts, facts.read_text().replace('"1"', '"2"'))  # same size
    assert request_key("detect,os", None, {}, str(facts)) != first
    _edit_in_place(facts, facts.read_text() + "\n")  # same mtime would still differ by size
    assert request_key("detect,os", None, {}, str(facts)) != first


def test_another_facts_file_in_the_same_folder_is_another_request(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _write_facts(one, "1")
    _write_facts(two, "2")
    assert request_key("x", None, {}, str(one)) != request_key("x", None, {}, str(two))
    missing = request_key("x", None, {}, str(tmp_path / "missing.json"))
    assert missing != request_key("x", None, {}, str(one))


def test_a_relative_facts_path_works(tmp_path: Path) -> None:
    facts = tmp_path / "work" / "facts.json"  # the autouse fixture's working directory
    _write_facts(facts, "1")
    assert Path.cwd() == facts.parent
    rel = request_key("x", None, {}, "facts.json")
    assert rel != request_key("x", None, {}, None)
    _edit_in_place(facts, facts.read_text().replace('"1"', '"3"'))
    assert request_key("x", None, {}, "facts.json") != rel


def test_a_resolution_planned_with_old_facts_is_not_returned(tmp_path: Path) -> None:
    index_dir = str(tmp_path / "index")
    os.makedirs(index_dir)
    facts = tmp_path / "facts.json"
    _write_facts(facts, "1")
    old_id = request_key("use,os", None, {}, str(facts))
    remember(index_dir, old_id, Remembered("k" * 16, "use-os", ()), [], [])
    found = resolve(index_dir, request_key("use,os", None, {}, str(facts)), [])
    assert found is not None and found.key == "k" * 16  # the same facts: remembered
    _edit_in_place(facts, facts.read_text().replace('"1"', '"2"'))
    assert resolve(index_dir, request_key("use,os", None, {}, str(facts)), []) is None


USE_OS = """\
alias: use-os
uid: '00000000000000f1'
automation_alias: script
tags: [use, os]
cache: true
new_env_keys: [CM_USE_OS_*]
deps:
- tags: detect,os
"""


def test_run_with_an_edited_facts_file_is_planned_again(
    make_repo: RepoMaker, tmp_path: Path
) -> None:
    """``run --facts=F`` twice is served from the remembered resolution; after F is edited in
    place, the request is planned again with the new facts (a new key, a new entry)."""
    run_sh = 'echo "CM_USE_OS_SEEN=$CM_HOST_OS_VERSION" >> tmp-run-env.out\n'
    root = make_repo("uses-os", {"use-os": USE_OS}, files={"use-os/run.sh": run_sh})
    assert cli("repo", "add", str(root))[0] == 0
    facts = tmp_path / "facts.json"
    _write_facts(facts, "1")

    def run() -> dict[str, object]:
        code, out, err = cli("run", "use os", "--json", f"--facts={facts}")
        assert code == 0, err
        result: dict[str, object] = json.loads(out)
        return result

    first = run()
    assert first["from_cache"] is False
    again = run()
    assert again["from_cache"] is True and again["key"] == first["key"]
    _edit_in_place(facts, facts.read_text().replace('"1"', '"2"'))
    edited = run()
    assert edited["key"] != first["key"] and edited["from_cache"] is False
