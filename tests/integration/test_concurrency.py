"""One cache shared by four ``cm-snakemake run`` processes and two Snakemake workflows at once,
asking for overlapping nodes: each node is built exactly once and every process gets the
right result. Then builds are killed (a ``run`` and a workflow, SIGKILL to their process
groups): no lock stays behind, the leftovers are found and removed with a message, and the
same requests, again concurrent, finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

pytestmark = pytest.mark.slow

BUILD = """\
echo "begin $PWD" >> "$CMSM_TEST_LOG"
sleep 1
echo "{key}={value}" >> tmp-run-env.out
echo "end $PWD" >> "$CMSM_TEST_LOG"
"""
HEAD = "automation_alias: script\ncache: true\n"


@pytest.fixture
def shared(make_repo: RepoMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(
        "shared",
        {
            "base": f"alias: base\nuid: '00000000000000d1'\ntags: [base]\n{HEAD}"
            "new_env_keys: [CM_BASE]\n",
            "tool": f"alias: tool\nuid: '00000000000000d2'\ntags: [tool]\n{HEAD}"
            "new_env_keys: [CM_TOOL]\ndeps:\n- tags: base\n"
            "variations:\n  v.#:\n    env: {TOOL_V: '#'}\n",
            "app": f"alias: app\nuid: '00000000000000d3'\ntags: [app]\n{HEAD}"
            "new_env_keys: [CM_APP]\ndeps:\n- tags: tool,_v.1\n- tags: tool,_v.2\n"
            "variations:\n  a: {group: mode, env: {APP_MODE: a}}\n"
            "  b: {group: mode, env: {APP_MODE: b}}\n",
        },
        files={
            "base/run.sh": BUILD.format(key="CM_BASE", value="ok"),
            "tool/run.sh": BUILD.format(key="CM_TOOL", value="$TOOL_V"),
            "app/run.sh": BUILD.format(key="CM_APP", value="$APP_MODE"),
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    monkeypatch.setenv("CMSM_TEST_LOG", str(tmp_path / "builds.log"))
    (tmp_path / "builds.log").touch()
    return tmp_path / "builds.log"


def start_run(request: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cm_snakemake", "run", request, "--json", "--no-facts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def start_workflow(workdir: Path, targets: list[str]) -> subprocess.Popen[str]:
    workdir.mkdir(exist_ok=True)
    inputs = ", ".join(f"cm.target({t!r})" for t in targets)
    (workdir / "Snakefile").write_text(
        textwrap.dedent(f"""\
        from cm_snakemake.compile.workflow import cm

        rule all:
            input: {inputs}

        include: cm.rules()
    """)
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-c2",
            "-d",
            str(workdir),
            "-s",
            str(workdir / "Snakefile"),
            "--rerun-incomplete",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def builds(log: Path) -> Counter[str]:
    return Counter(
        line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.startswith("begin ")
    )


def entry_env(home: Path, alias: str, key: str) -> str:
    values = set()
    for result in (home / "cache" / alias).glob("*/cmsm-result.json"):
        values.add(json.loads(result.read_text())["new_env"].get(key))
    return ",".join(sorted(values))


def test_four_runs_and_two_workflows_share_one_cache(
    shared: Path, home: Path, tmp_path: Path
) -> None:
    requests = {
        "tool _v.1": ("CM_TOOL", "1"),
        "tool _v.2": ("CM_TOOL", "2"),
        "app _a": ("CM_APP", "a"),
        "app _b": ("CM_APP", "b"),
    }
    runs = {request: start_run(request) for request in requests}
    flows = [
        start_workflow(tmp_path / "wf1", ["app _a", "tool _v.3"]),
        start_workflow(tmp_path / "wf2", ["app _b", "tool _v.1"]),
    ]
    for request, proc in runs.items():
        out, _ = finish(proc)
        key, value = requests[request]
        assert json.loads(out)["new_env"][key] == value, request
    for proc in flows:
        finish(proc)
    counts = builds(shared)
    # base, tool v1/v2/v3, app a/b: six nodes, each built exactly once
    assert len(counts) == 6 and set(counts.values()) == {1}, counts
    assert entry_env(home, "tool", "CM_TOOL") == "1,2,3"
    assert entry_env(home, "app", "CM_APP") == "a,b"


def _wait_for_begin(log: Path, before: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sum(builds(log).values()) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(builds(log).values()) > before, "the build never started"


def test_killed_builds_leave_no_lock_and_are_recovered(
    shared: Path, home: Path, tmp_path: Path
) -> None:
    # a run killed while it builds tool _v.9
    run = start_run("tool _v.9")
    _wait_for_begin(shared, 0)  # base
    _wait_for_begin(shared, 1)  # tool _v.9
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate()
    # a workflow killed while it builds tool _v.8 (the controller and its jobs)
    flow = start_workflow(tmp_path / "wf", ["tool _v.8"])
    _wait_for_begin(shared, 2)
    os.killpg(flow.pid, signal.SIGKILL)
    flow.communicate()
    assert not list((home / "cache" / "tool").glob("*/cmsm-result.json"))  # nothing trusted
    # the lock files are still there, and free: the kernel released the killed holders' locks
    assert list((home / "cache" / "tool").glob(".*.lock"))
    again = [start_run("tool _v.9"), start_run("tool _v.9")]
    rerun = start_workflow(tmp_path / "wf", ["tool _v.8"])
    outputs = [finish(proc) for proc in again]
    assert [json.loads(out)["new_env"]["CM_TOOL"] for out, _ in outputs] == ["9", "9"]
    _, flow_err = finish(rerun)
    messages = "".join(err for _, err in outputs) + flow_err
    assert (
        "removed an incomplete cache entry of tool (an earlier build failed or was killed)"
        in messages
    )
    assert "an earlier Snakemake run in this directory was killed" in flow_err
    assert "removed its stale lock" in flow_err
    counts = builds(shared)
    v9 = [path for path in counts if path.startswith(str(home / "cache" / "tool"))]
    assert all(counts[p] == 2 for p in v9)  # killed once, then built once, not twice
    assert entry_env(home, "tool", "CM_TOOL") == "8,9"
    assert not [
        p
        for p in (home / "cache").glob("*/*")
        if p.is_dir() and not (p / "cmsm-result.json").is_file()
    ]
