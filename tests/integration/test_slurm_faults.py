"""Faults and load on the real SLURM test cluster (tests/slurm/start-slurm.sh): a cancelled job
is resubmitted when the profile allows a retry, and fifty plan nodes go through the queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ..conftest import RepoMaker, cli
from .test_snakemake import REPO, script

pytestmark = pytest.mark.slow

TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
REAL_PROFILE = REPO / "profiles" / "slurm"
RUN_TIMEOUT = 900.0  # seconds for one Snakemake run; a healthy one takes a small part of it


class Runs:
    """Snakemake runs started in the background. Those still going at teardown are stopped,
    and whatever SLURM jobs they left are cancelled."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen[str], Path]] = []

    def start(self, workdir: Path, inputs: str, *extra: str) -> subprocess.Popen[str]:
        """Start Snakemake on a Snakefile whose ``rule all`` asks for ``inputs`` (Python)."""
        workdir.mkdir(exist_ok=True)
        (workdir / "Snakefile").write_text(
            "from cm_snakemake.compile.workflow import cm\n\n"
            f"rule all:\n    input: {inputs}\n\n"
            "include: cm.rules()\n"
        )
        with open(workdir / "snakemake.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "snakemake",
                    "-d",
                    str(workdir),
                    "-s",
                    str(workdir / "Snakefile"),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=dict(os.environ),
            )
        self.started.append((proc, workdir))
        return proc

    def finish(self, proc: subprocess.Popen[str], workdir: Path) -> tuple[int, str]:
        """Wait for a run; return its exit code and its output."""
        try:
            code = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop(proc, workdir)
            log = (workdir / "snakemake.log").read_text()
            pytest.fail(f"Snakemake did not finish in {RUN_TIMEOUT:.0f} s:\n{log[-3000:]}")
        return code, (workdir / "snakemake.log").read_text()

    @staticmethod
    def stop(proc: subprocess.Popen[str], workdir: Path) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Snakemake cancels its jobs on an interrupt
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # the plugin names every job of a run after the run's id
        for line in (workdir / "snakemake.log").read_text().splitlines():
            if line.startswith("SLURM run ID: "):
                run_id = line.removeprefix("SLURM run ID: ").strip()
                subprocess.run(["scancel", "--name", run_id], check=False)

    def stop_all(self) -> None:
        for proc, workdir in self.started:
            self.stop(proc, workdir)


@pytest.fixture
def runs() -> Iterator[Runs]:
    started = Runs()
    yield started
    started.stop_all()


def job_state(job_id: str) -> tuple[str, str]:
    """The state and comment (the plugin's ``rule_<name>_wildcards_<...>``) of a job."""
    done = subprocess.run(
        ["squeue", "--states=all", "-h", "-j", job_id, "-o", "%T|%k"],
        capture_output=True,
        text=True,
        check=False,
    )
    state, _, comment = done.stdout.strip().partition("|")
    return state, comment


def cancel_when_running(proc: subprocess.Popen[str], marker: Path, rule: str) -> str:
    """Wait until the job of ``rule`` runs its script (the script writes its SLURM job id to
    ``marker``) and SLURM reports it RUNNING, then ``scancel`` it; return its job id."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "Snakemake ended before its job could be cancelled"
        job_id = marker.read_text().strip() if marker.is_file() else ""
        if job_id:
            state, comment = job_state(job_id)
            if state == "RUNNING":
                assert comment.startswith(f"rule_{rule}_"), comment  # the job of our rule
                subprocess.run(["scancel", job_id], check=True)
                return job_id
            # "" when squeue did not answer this time; anything else means the job ended
            assert state in ("", "PENDING", "CONFIGURING"), (job_id, state)
        time.sleep(0.5)
    pytest.fail(f"the job of {rule} did not start running within {RUN_TIMEOUT:.0f} s")


FIRST_ATTEMPT_SLEEPS = """\
if [ ! -e {marker} ]; then
  echo "$SLURM_JOB_ID" > {marker}.part && mv {marker}.part {marker}
  sleep 300
fi
echo "CM_{var}=ok" >> tmp-run-env.out
"""


@pytest.fixture
def sleepers(make_repo: RepoMaker, tmp_path: Path) -> dict[str, Path]:
    """Two cached scripts, ``plain`` and ``retried``, whose first attempt records its SLURM job
    id in a marker file and then sleeps; later attempts finish at once. Returns the markers."""
    markers = {alias: tmp_path / f"{alias}-first-attempt" for alias in ("plain", "retried")}
    root = make_repo(
        "sleepers",
        {alias: script(alias, 0x51 + n, []) for n, alias in enumerate(markers)},
        files={
            f"{alias}/run.sh": FIRST_ATTEMPT_SLEEPS.format(marker=marker, var=alias.upper())
            for alias, marker in markers.items()
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    return markers


def retrying_profile(folder: Path) -> Path:
    """The test profile with the ``retries`` setting of the real profile."""
    config = yaml.safe_load((TEST_PROFILE / "config.yaml").read_text())
    retries = yaml.safe_load((REAL_PROFILE / "config.yaml").read_text())["retries"]
    assert retries >= 1  # the real profile resubmits a failed or cancelled job
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({**config, "retries": retries}))
    return folder


def cache_entries(alias: str) -> list[Path]:
    return sorted((Path(os.environ["CMSM_HOME"]) / "cache" / alias).glob("*/cmsm-result.json"))


def test_a_cancelled_job_is_resubmitted_only_when_the_profile_allows_a_retry(
    slurm: None, sleepers: dict[str, Path], runs: Runs, tmp_path: Path
) -> None:
    # the same fault in two runs at once: one without retries, one with the real profile's
    plain = runs.start(
        tmp_path / "plain", 'cm.target("plain")', "--profile", str(TEST_PROFILE), "--retries", "0"
    )
    retrying = runs.start(
        tmp_path / "retrying",
        'cm.target("retried")',
        "--profile",
        str(retrying_profile(tmp_path / "profile")),
    )
    lost = cancel_when_running(plain, sleepers["plain"], "cm_plain")
    cancelled = cancel_when_running(retrying, sleepers["retried"], "cm_retried")

    code, log = runs.finish(plain, tmp_path / "plain")
    assert code != 0, log[-3000:]
    # the plugin saw the job CANCELLED in squeue; Snakemake names the job and the rule
    assert f"SLURM-job '{lost}' failed, SLURM status is: 'CANCELLED'" in log, log[-3000:]
    assert "Error in rule cm_plain:" in log and "Trying to restart" not in log
    assert not cache_entries("plain")
    assert job_state(lost)[0] == "CANCELLED"

    code, log = runs.finish(retrying, tmp_path / "retrying")
    assert code == 0, log[-3000:]
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in log
    assert "Trying to restart job" in log
    (result,) = cache_entries("retried")
    assert json.loads(result.read_text())["new_env"]["CM_RETRIED"] == "ok"
    second = json.loads((result.parent / "cmsm-provenance.json").read_text())["slurm_job_id"]
    assert second and second != cancelled  # built by a second SLURM job
    assert job_state(cancelled)[0] == "CANCELLED"
    assert job_state(second)[0] == "COMPLETED"


def test_fifty_nodes_run_through_the_cluster(
    slurm: None, make_repo: RepoMaker, runs: Runs, tmp_path: Path
) -> None:
    meta = script("trivial", 0x60, []) + "variations: {n.#: {env: {CM_N: '#'}}}\n"
    run_sh = 'echo "CM_OUT=$CM_N" >> tmp-run-env.out\n'
    root = make_repo("trivialrepo", {"trivial": meta}, files={"trivial/run.sh": run_sh})
    assert cli("repo", "add", str(root))[0] == 0
    work = tmp_path / "wf"
    count = 50
    started = time.monotonic()
    proc = runs.start(
        work,
        f'[cm.target(f"trivial _n.{{i}}") for i in range({count})]',
        "--profile",
        str(TEST_PROFILE),
        "--jobs",
        str(count),
    )
    code, log = runs.finish(proc, work)
    seconds = time.monotonic() - started
    print(f"\n{count} nodes through SLURM: {seconds:.1f} s wall, {count / seconds:.2f} nodes/s")
    assert code == 0, log[-3000:]
    entries = cache_entries("trivial")
    assert len(entries) == count  # one cache entry per node
    job_ids: dict[str, str] = {}
    for entry in entries:
        value = json.loads(entry.read_text())["new_env"]["CM_OUT"]
        record = json.loads((entry.parent / "cmsm-provenance.json").read_text())
        assert record["variations"] == [f"n.{value}"], (entry, record["variations"])
        assert record["slurm_job_id"], entry  # it ran in a SLURM job
        job_ids[value] = record["slurm_job_id"]
    assert sorted(job_ids, key=int) == [str(i) for i in range(count)]
    assert len(set(job_ids.values())) == count  # each node its own job
    listed = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True
    ).stdout
    states = dict(line.split() for line in listed.splitlines())
    assert {states.get(job_id) for job_id in job_ids.values()} == {"COMPLETED"}
