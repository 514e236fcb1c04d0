"""Running out of space while an entry is written (simulated with a file-size limit): a
clear error, no entry left behind, and the cache still works."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from ..conftest import RepoMaker, cli

# 20,000 "é": 40 kB in the script's output (UTF-8), 120 kB in the entry's JSON records
# (written as \\u00e9): with a 100 kB file-size limit the script succeeds and the entry's
# records cannot be written. With SIZE=60000 the script's own output is too big.
BIG_EXPORT = """\
value=$(head -c "${SIZE:-20000}" /dev/zero | tr '\\0' 'x' | sed 's/x/é/g')
echo "CM_BIG=$value" >> tmp-run-env.out
"""
LIMIT = 100_000


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)


def test_a_full_disk_while_writing_an_entry(make_repo: RepoMaker, home: Path) -> None:
    meta = (
        "alias: big\nuid: '00000000000000d1'\ntags: [big]\ncache: true\n"
        "automation_alias: script\nnew_env_keys: [CM_BIG]\n"
    )
    root = make_repo("big", {"big": meta}, files={"big/run.sh": BIG_EXPORT})
    assert cli("repo", "add", str(root))[0] == 0
    command = [sys.executable, "-m", "cm_snakemake", "run", "big"]
    env = dict(os.environ)
    full = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, preexec_fn=limited
    )
    assert full.returncode == 1, full.stderr
    assert "could not write the cache entry of big:big" in full.stderr
    assert "File too large" in full.stderr and "Traceback" not in full.stderr
    folder = home / "cache" / "big"  # its lock files stay; no entry folder does
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []
    # with room again, the same request builds a complete entry
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert len(list((home / "cache" / "big").glob("*/cmsm-result.json"))) == 1


def test_a_full_disk_while_the_script_writes(make_repo: RepoMaker, home: Path) -> None:
    meta = (
        "alias: big\nuid: '00000000000000d1'\ntags: [big]\ncache: true\n"
        "automation_alias: script\nnew_env_keys: [CM_BIG]\n"
    )
    root = make_repo("big", {"big": meta}, files={"big/run.sh": BIG_EXPORT})
    assert cli("repo", "add", str(root))[0] == 0
    env = {**os.environ, "SIZE": "60000"}
    full = subprocess.run(
        [sys.executable, "-m", "cm_snakemake", "run", "big"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        preexec_fn=limited,
    )
    assert full.returncode == 2, full.stderr
    assert "script 'big:big' failed in native script run.sh" in full.stderr
    assert "Traceback" not in full.stderr
    assert list((home / "cache").glob("big/*/cmsm-result.json")) == []
