"""Real Snakemake runs of plans: parallel branches, reruns, failures, --keep-going."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

pytestmark = pytest.mark.slow

LEAF = """\
echo "start {name} $(date +%s.%N)" >> "$CMSM_TEST_LOG"
sleep {sleep}
echo "end {name} $(date +%s.%N)" >> "$CMSM_TEST_LOG"
echo "CM_{var}=done" >> tmp-run-env.out
"""


def script(alias: str, uid: int, deps: list[str], extra: str = "") -> str:
    dep_lines = "".join(f"- tags: {d}\n" for d in deps)
    head = f"alias: {alias}\nuid: '{uid:016x}'\ntags: [{alias}]\ncache: true\n"
    return head + "new_env_keys: [CM_*]\n" + (f"deps:\n{dep_lines}" if deps else "") + extra


@pytest.fixture
def diamond(make_repo: RepoMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(
        "diamond",
        {
            "base": script("base", 1, []),
            "left": script("left", 2, ["base"]),
            "right": script("right", 3, ["base"]),
            "top": script(
                "top",
                4,
                ["left", "right"],
                "variations: {one: {group: g, default: true}, two: {group: g}}\n",
            ),
            "broken": script("broken", 5, ["base"]),
            "above-broken": script("above-broken", 6, ["broken", "left"]),
        },
        files={
            "base/run.sh": LEAF.format(name="base", sleep=0, var="BASE"),
            "left/run.sh": LEAF.format(name="left", sleep=2, var="LEFT"),
            "right/run.sh": LEAF.format(name="right", sleep=2, var="RIGHT"),
            "top/run.sh": LEAF.format(name="top", sleep=0, var="TOP"),
            "broken/run.sh": "echo broken on purpose >&2\nexit 3\n",
            "above-broken/run.sh": LEAF.format(name="above", sleep=0, var="ABOVE"),
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    monkeypatch.setenv("CMSM_TEST_LOG", str(tmp_path / "jobs.log"))
    return root


def snakemake(workdir: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(exist_ok=True)
    (workdir / "Snakefile").write_text(
        textwrap.dedent(f"""\
        from cm_snakemake.compile.workflow import cm

        rule all:
            input: cm.target({target!r})

        include: cm.rules()
    """)
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-c2",
            "-d",
            str(workdir),
            "-s",
            str(workdir / "Snakefile"),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )


def events(log: Path) -> list[tuple[str, str, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(kind, name, float(stamp)) for kind, name, stamp in rows]


def test_a_diamond_runs_its_branches_in_parallel(diamond: Path, tmp_path: Path) -> None:
    work = tmp_path / "wf"
    done = snakemake(work, "top")
    assert done.returncode == 0, done.stderr
    ev = {(kind, name): t for kind, name, t in events(tmp_path / "jobs.log")}
    # left and right overlap in time: each started before the other ended
    assert ev[("start", "left")] < ev[("end", "right")]
    assert ev[("start", "right")] < ev[("end", "left")]
    assert ev[("end", "base")] <= min(ev[("start", "left")], ev[("start", "right")])
    assert ev[("start", "top")] >= max(ev[("end", "left")], ev[("end", "right")])
    result = json.loads(
        next(
            (Path(os.environ["CMSM_HOME"]) / "cache" / "top").glob("*/cmsm-result.json")
        ).read_text()
    )
    assert result["new_env"]["CM_TOP"] == "done"
    again = snakemake(work, "top")
    assert again.returncode == 0 and "Nothing to be done" in again.stderr
    assert len(events(tmp_path / "jobs.log")) == 8  # nothing ran again


def test_a_variation_change_reruns_only_what_it_changes(diamond: Path, tmp_path: Path) -> None:
    work = tmp_path / "wf"
    assert snakemake(work, "top").returncode == 0
    before = len(events(tmp_path / "jobs.log"))
    changed = snakemake(work, "top _two")
    assert changed.returncode == 0, changed.stderr
    names = [name for kind, name, _ in events(tmp_path / "jobs.log")[before:] if kind == "start"]
    assert names == ["top"]  # base, left and right keep their keys


def test_a_failing_script_stops_its_dependents_and_keep_going_finishes_the_rest(
    diamond: Path, tmp_path: Path
) -> None:
    work = tmp_path / "wf"
    failed = snakemake(work, "above-broken")
    assert failed.returncode != 0
    assert "script 'diamond:broken' failed in native script run.sh" in failed.stderr
    assert not any(name == "above" for _, name, _ in events(tmp_path / "jobs.log"))
    kept = snakemake(work, "above-broken", "--keep-going")
    assert kept.returncode != 0
    names = {name for kind, name, _ in events(tmp_path / "jobs.log") if kind == "end"}
    assert {"base", "left"} <= names and "above" not in names


def test_run_with_jobs_goes_through_one_snakemake_process(diamond: Path, tmp_path: Path) -> None:
    code, out, err = cli("run", "top", "--jobs=2", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"]["CM_TOP"] == "done"
    ev = {(kind, name): t for kind, name, t in events(tmp_path / "jobs.log")}
    assert ev[("start", "left")] < ev[("end", "right")]  # in parallel
    assert ev[("start", "right")] < ev[("end", "left")]
    assert (Path.cwd() / ".cmsm" / "run" / "Snakefile").is_file()


REPO = Path(__file__).resolve().parents[2]


def test_profile_init_writes_a_site_profile(tmp_path: Path) -> None:
    out = tmp_path / "site"
    code, _text, err = cli(
        "profile",
        "init",
        "slurm",
        "--partition=gpu",
        "--account=ml",
        "--runtime=120",
        f"--out={out}",
    )
    assert code == 0, err
    config = (out / "config.yaml").read_text()
    assert 'slurm_partition: "gpu"' in config and 'slurm_account: "ml"' in config
    assert "runtime: 120" in config and "slurm-status-command: squeue" in config
    code, _, _ = cli("profile", "init", "slurm", "--accounting", f"--out={tmp_path / 'acct'}")
    assert "squeue" not in (tmp_path / "acct" / "config.yaml").read_text()
    code, _, err = cli("profile", "init", "slurm", "--runtime=soon")
    assert code == 1 and "--runtime expects a whole number" in err


@pytest.mark.corpus
@pytest.mark.parametrize("profile", ["profiles/local", "profiles/slurm"])
def test_the_repository_profiles_dry_run_from_the_root(
    corpus: Path, tmp_path: Path, profile: str
) -> None:
    assert cli("repo", "add", str(corpus))[0] == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(REPO / profile),
            "-n",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path / "wf"),
            "detect",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "cm_detect_os" in done.stdout + done.stderr


@pytest.mark.corpus
def test_the_example_workflow_mixes_own_rules_and_cm_scripts(corpus: Path, tmp_path: Path) -> None:
    assert cli("repo", "add", str(corpus))[0] == 0
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-c2",
            "-s",
            str(REPO / "workflows" / "example" / "Snakefile"),
            "-d",
            str(tmp_path / "wf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "wf" / "results" / "example" / "report.md").read_text()
    assert "sum: 15" in report
    assert f"python: {sys.version_info.major}." in report


def test_a_plan_runs_on_a_real_slurm_cluster(slurm: None, diamond: Path, tmp_path: Path) -> None:
    work = tmp_path / "wf"
    done = snakemake(work, "top", "--profile", str(REPO / "tests" / "slurm" / "profile"))
    assert done.returncode == 0, done.stderr[-3000:]
    cache = Path(os.environ["CMSM_HOME"]) / "cache"
    records = {
        alias: json.loads(next((cache / alias).glob("*/cmsm-provenance.json")).read_text())
        for alias in ("base", "left", "right", "top")
    }
    # every node ran inside a SLURM job, each its own
    job_ids = {alias: r["slurm_job_id"] for alias, r in records.items()}
    assert all(job_ids.values()), job_ids
    assert len(set(job_ids.values())) == 4
    listed = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True
    ).stdout
    for job_id in job_ids.values():
        assert f"{job_id} COMPLETED" in listed
    logs = list((work / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert logs or "slurm" in done.stderr


def test_snakemake_flags_users_rely_on(diamond: Path, tmp_path: Path) -> None:
    work = tmp_path / "wf"
    dry = snakemake(work, "top", "-n")
    assert dry.returncode == 0
    for rule in ("cm_base", "cm_left", "cm_right", "cm_top"):
        assert rule in dry.stdout + dry.stderr
    assert "CM script left: node" in dry.stdout + dry.stderr  # the message names the script
    assert snakemake(work, "top").returncode == 0
    summary = snakemake(work, "top", "--summary")
    assert summary.returncode == 0 and "cm_left" in summary.stdout
    dag = snakemake(work, "top", "--dag")
    assert dag.returncode == 0 and "digraph" in dag.stdout and "cm_base" in dag.stdout
    report = snakemake(work, "top", "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    assert "cm_left" in (tmp_path / "report.html").read_text()
    before = len(events(tmp_path / "jobs.log"))
    forced = snakemake(work, "top", "--forcerun", "cm_left")
    assert forced.returncode == 0, forced.stderr
    started = [n for k, n, _ in events(tmp_path / "jobs.log")[before:] if k == "start"]
    assert started == ["left", "top"]  # left again, and what depends on it


def test_editing_a_script_reruns_its_jobs(diamond: Path, tmp_path: Path) -> None:
    work = tmp_path / "wf"
    assert snakemake(work, "top").returncode == 0
    before = len(events(tmp_path / "jobs.log"))
    run_sh = diamond / "script" / "right" / "run.sh"
    run_sh.write_text(run_sh.read_text() + "# edited\n")
    again = snakemake(work, "top")
    assert again.returncode == 0, again.stderr
    started = [n for k, n, _ in events(tmp_path / "jobs.log")[before:] if k == "start"]
    assert started == ["right", "top"]


def test_retries_rerun_a_flaky_script(
    make_repo: RepoMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "tried-once"
    body = f"if [ ! -e {marker} ]; then touch {marker}; exit 1; fi\n"
    body += 'echo "CM_FLAKY=ok" >> tmp-run-env.out\n'
    root = make_repo("flaky", {"flaky": script("flaky", 9, [])}, files={"flaky/run.sh": body})
    assert cli("repo", "add", str(root))[0] == 0
    work = tmp_path / "wf"
    assert snakemake(work, "flaky").returncode != 0  # the first attempt fails
    marker.unlink()
    retried = snakemake(work, "flaky", "--retries", "1")
    assert retried.returncode == 0, retried.stderr
    cache_dir = Path(os.environ["CMSM_HOME"]) / "cache" / "flaky"
    entry = next(cache_dir.glob("*/cmsm-result.json"))
    assert "CM_FLAKY" in entry.read_text()
    code, _, err = cli("run", "flaky", "--jobs=1", "--dry-run")
    assert code == 0, err
