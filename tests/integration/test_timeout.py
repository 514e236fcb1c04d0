"""A script that hangs is stopped at its time limit (meta, or Snakemake's cm_timeout
resource), with its child processes, a clear message and no cache entry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

HANG = """\
sleep 300 &
echo $! > "$CMSM_TEST_CHILD"
sleep 300
"""


def hang_repo(make_repo: RepoMaker, timeout: str | None) -> Path:
    resources = f"resources:\n  timeout: '{timeout}'\n" if timeout else ""
    meta = (
        "alias: hang\nuid: '00000000000000a1'\ntags: [hang]\ncache: true\n"
        "automation_alias: script\n" + resources
    )
    return make_repo("hangs", {"hang": meta}, files={"hang/run.sh": HANG})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie is gone


def test_a_hanging_script_is_stopped_at_the_meta_time_limit(
    make_repo: RepoMaker, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("repo", "add", str(hang_repo(make_repo, "0.05")))[0] == 0  # 3 seconds
    child = tmp_path / "child.pid"
    monkeypatch.setenv("CMSM_TEST_CHILD", str(child))
    started = time.monotonic()
    code, _, err = cli("run", "hang")
    assert time.monotonic() - started < 20
    assert code == 2
    assert "script 'hangs:hang' failed in native script run.sh" in err
    assert "ran longer than its time limit of 0.05 min and was stopped" in err
    assert "resources.timeout" in err  # where to raise it
    time.sleep(0.5)
    assert not alive(int(child.read_text()))  # its whole process group was stopped
    assert list((home / "cache").glob("hang/*/cmsm-result.json")) == []


@pytest.mark.slow
def test_snakemake_jobs_take_the_limit_from_the_profile_or_the_command_line(
    make_repo: RepoMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("repo", "add", str(hang_repo(make_repo, None)))[0] == 0  # no limit in the meta
    monkeypatch.setenv("CMSM_TEST_CHILD", str(tmp_path / "child.pid"))
    work = tmp_path / "wf"
    work.mkdir()
    (work / "Snakefile").write_text(
        textwrap.dedent("""\
        from cm_snakemake.compile.workflow import cm

        rule all:
            input: cm.target("hang")

        include: cm.rules()
    """)
    )
    # a string resource keeps the fraction (a bare 0.05 would be cut to a whole number)
    ways = (["--config", "cm_timeout=0.05"], ["--set-resources", "cm_hang:cm_timeout='0.05'"])
    for extra in ways:
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-c1",
                "-d",
                str(work),
                "-s",
                str(work / "Snakefile"),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert time.monotonic() - started < 60
        assert done.returncode != 0
        assert "ran longer than its time limit of 0.05 min" in done.stdout + done.stderr
