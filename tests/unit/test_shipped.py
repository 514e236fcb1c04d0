"""What a script's files digest covers: its code and the files its repository ships."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cm_snakemake.index.scan import scan_script
from cm_snakemake.index.shipped import manifest_path, shipped_files, write_manifest


def _script(root: Path) -> Path:
    folder = root / "script" / "s"
    folder.mkdir(parents=True)
    (folder / "_cm.yaml").write_text("alias: s\n")
    (folder / "run.sh").write_text("echo hi\n")
    (folder / "data.txt").write_text("one\n")
    return folder


def _digest(root: Path, folder: Path, home: Path) -> str:
    shipped = shipped_files(str(home), str(root))
    assert shipped is not None
    inner = frozenset(p[len("script/s/") :] for p in shipped if p.startswith("script/s/"))
    return scan_script(str(folder), inner).digest


def test_outside_git_the_files_present_at_registration_count(tmp_path: Path) -> None:
    root, home = tmp_path / "repo", tmp_path / "home"
    folder = _script(root)
    assert shipped_files(str(home), str(root)) is None  # not registered: it says nothing
    write_manifest(str(home), str(root))
    assert Path(manifest_path(str(home), str(root))).is_file()
    before = _digest(root, folder, home)
    (folder / "tmp").mkdir()
    (folder / "tmp" / "1234.conf").write_text("written by a run\n")
    (folder / "made.txt").write_text("written by a run\n")
    assert _digest(root, folder, home) == before
    (folder / "data.txt").write_text("two\n")  # shipped: its meaning changed
    assert _digest(root, folder, home) != before
    (folder / "data.txt").write_text("one\n")
    (folder / "run-ubuntu.sh").write_text("echo new\n")  # code counts even when new
    assert _digest(root, folder, home) != before


def test_in_a_git_checkout_the_files_in_its_index_count(tmp_path: Path) -> None:
    root, home = tmp_path / "repo", tmp_path / "home"
    folder = _script(root)
    try:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"git is not usable here: {exc}")
    before = _digest(root, folder, home)
    (folder / "made.txt").write_text("written by a run\n")  # untracked
    assert _digest(root, folder, home) == before
    subprocess.run(["git", "-C", str(root), "add", "script/s/made.txt"], check=True)
    assert _digest(root, folder, home) != before  # now the repository ships it
