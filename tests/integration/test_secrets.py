"""Secrets (``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``GH_TOKEN``, and every other family of
secret names in ``secretenv.py``) reach the scripts that need them and are never written to
cache records, provenance, result files, plan files, wrappers, logs or the command's output:
through ``run``, ``run --jobs`` (Snakemake) and a Snakefile's ``cm.target(..., env=...)``."""

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

TOKENS = {name: f"s3cr3t-{name}-{os.getpid()}" for name in
          ("run", "password", "jobs", "snakefile", "gh", "api")}  # fmt: skip

NEEDS = """\
test -n "$CM_GH_TOKEN" || { echo "no CM_GH_TOKEN" >&2; exit 3; }
test -n "$GH_TOKEN" && test -n "$MY_API_SECRET" || { echo "no process secrets" >&2; exit 4; }
echo "CM_TOKEN_LEN=${#CM_GH_TOKEN}" >> tmp-run-env.out
echo "CM_PASSWORD_LEN=${#CM_DB_PASSWORD}" >> tmp-run-env.out
echo "CM_GH_TOKEN=$CM_GH_TOKEN" >> tmp-run-env.out
"""
USES = """\
echo "CM_SAW_TOKEN_LEN=${#CM_GH_TOKEN}" >> tmp-run-env.out
"""


@pytest.fixture
def secrets_repo(make_repo: RepoMaker, monkeypatch: pytest.MonkeyPatch) -> Path:
    head = "automation_alias: script\ncache: true\nnew_env_keys: [CM_*]\n"
    root = make_repo(
        "secretive",
        {
            "needs-token": (
                f"alias: needs-token\nuid: '00000000000000e1'\ntags: [needs,token]\n{head}"
            ),
            "uses-it": f"alias: uses-it\nuid: '00000000000000e2'\ntags: [uses,it]\n{head}"
            "deps:\n- tags: needs,token\n",
        },
        files={"needs-token/run.sh": NEEDS, "uses-it/run.sh": USES},
    )
    assert cli("repo", "add", str(root))[0] == 0
    monkeypatch.setenv("GH_TOKEN", TOKENS["gh"])
    monkeypatch.setenv("MY_API_SECRET", TOKENS["api"])
    return root


def leaks(folder: Path, *texts: str) -> list[str]:
    """Files under ``folder``, and texts, that hold any token."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n, t in TOKENS.items() if t.encode() in data]
    for text in texts:
        found += [f"output: {n}" for n, t in TOKENS.items() if t in text]
    return found


def test_secrets_reach_scripts_and_nothing_on_disk_or_in_output(
    secrets_repo: Path, tmp_path: Path
) -> None:
    outputs = []
    args = [
        "uses it",
        f"--env.CM_GH_TOKEN={TOKENS['run']}",
        f"--env.CM_DB_PASSWORD={TOKENS['password']}",
        "--json",
    ]
    for _ in range(2):  # built, then from the cache
        code, out, err = cli("run", *args)
        assert code == 0, err
        outputs += [out, err]
        result = json.loads(out)
        assert result["new_env"]["CM_SAW_TOKEN_LEN"] == str(len(TOKENS["run"]))
        assert result["secret_keys"] == ["CM_DB_PASSWORD", "CM_GH_TOKEN"]  # named, not shown
    code, out, err = cli("run", *args[:-1])  # the plain listing shows the name only
    assert code == 0 and "CM_GH_TOKEN=<secret, not shown>" in out, err
    outputs += [out, err]

    # run --jobs: one Snakemake process, plan files on disk (a cache of its own: CM's cache
    # keys do not depend on env values, so the entries above would be reused)
    jobs = subprocess.run(
        [
            sys.executable,
            "-m",
            "cm_snakemake",
            "run",
            "uses it",
            "--jobs=2",
            "--json",
            f"--env.CM_GH_TOKEN={TOKENS['jobs']}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CMSM_CACHE": str(tmp_path / "cache-jobs")},
    )
    assert jobs.returncode == 0, jobs.stderr[-3000:]
    assert json.loads(jobs.stdout[jobs.stdout.index("{") :])["new_env"]["CM_SAW_TOKEN_LEN"] == str(
        len(TOKENS["jobs"])
    )
    outputs += [jobs.stdout, jobs.stderr]

    # a Snakefile of one's own
    work = tmp_path / "wf"
    work.mkdir()
    (work / "Snakefile").write_text(
        textwrap.dedent(f"""\
        from cm_snakemake.compile.workflow import cm

        rule all:
            input: cm.target("uses it", env={{"CM_GH_TOKEN": {TOKENS["snakefile"]!r}}})

        include: cm.rules()
    """)
    )
    flow = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-c2",
            "-d",
            str(work),
            "-s",
            str(work / "Snakefile"),
            "--printshellcmds",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CMSM_CACHE": str(tmp_path / "cache-wf")},
    )
    assert flow.returncode == 0, flow.stderr[-3000:]
    outputs += [flow.stdout, flow.stderr]
    (work / "Snakefile").unlink()  # it holds the token: written by the user, not by us
    caches = [
        Path(os.environ["CMSM_HOME"]) / "cache",
        tmp_path / "cache-jobs",
        tmp_path / "cache-wf",
    ]
    seen = [
        json.loads(next((c / "uses-it").glob("*/cmsm-result.json")).read_text())["new_env"][
            "CM_SAW_TOKEN_LEN"
        ]
        for c in caches
    ]
    assert seen == [str(len(TOKENS[n])) for n in ("run", "jobs", "snakefile")]

    assert leaks(tmp_path, *outputs) == []


def test_a_job_without_the_secret_says_which_one(secrets_repo: Path, tmp_path: Path) -> None:
    code, _, err = cli(
        "plan", "uses it", f"--env.CM_GH_TOKEN={TOKENS['run']}", f"--out={tmp_path / 'plan.json'}"
    )
    assert code == 0, err
    assert TOKENS["run"] not in (tmp_path / "plan.json").read_text()
    data = json.loads((tmp_path / "plan.json").read_text())
    root = next(n for n in data["nodes"] if n["key"] == data["root"])
    code, _, err = cli(
        "job",
        f"--plan={tmp_path / 'plan.json'}",
        f"--key={root['key']}",
        f"--results={tmp_path / 'results'}",
    )
    assert code != 0
    assert "the secret CM_GH_TOKEN is not set in this job's environment" in err
    assert "export CM_GH_TOKEN" in err


# One key of each family of secret names beyond *_TOKEN / *_PASSWORD (see secretenv.py), and
# lookalikes that are not secrets.
FAMILY_KEYS = ("AWS_SECRET_ACCESS_KEY", "CM_SSH_PRIVATE_KEY", "CM_REGISTRY_CREDENTIALS",
               "CM_DB_PASS", "CM_GITHUB_PAT", "MYSQL_PWD", "CM_OPENAI_APIKEY",
               "CI_JOB_JWT")  # fmt: skip
LOOKALIKES = {"CM_BYPASS_CACHE": "yes", "CM_DOCKER_PASS_USER_ID": "1000",
              "CM_SSH_KEY_PATH": "/keys/id", "CM_TOKENIZER": "bpe"}  # fmt: skip


def test_every_family_of_secret_names_stays_out_of_records(
    make_repo: RepoMaker, tmp_path: Path
) -> None:
    """``run`` with such keys in ``--env``: the script gets every value; its cache record,
    result and output name the keys and hold none of the values; lookalikes are kept."""
    values = {k: f"v4lue-{k.lower()}-{os.getpid()}" for k in FAMILY_KEYS}
    check = "".join(f'test -n "${k}" || {{ echo "no {k}" >&2; exit 3; }}\n' for k in values)
    meta = (
        "alias: keeps-all\nuid: '00000000000000e3'\ntags: [keeps,all]\n"
        "automation_alias: script\ncache: true\n"
        "new_env_keys: [CM_*, AWS_*, MYSQL_*, CI_*]\n"
    )
    root = make_repo(
        "families",
        {"keeps-all": meta},
        files={"keeps-all/run.sh": check + 'echo "CM_SAW_ALL=yes" >> tmp-run-env.out\n'},
    )
    assert cli("repo", "add", str(root))[0] == 0
    args = ["keeps all", *(f"--env.{k}={v}" for k, v in {**values, **LOOKALIKES}.items())]
    outputs = []
    for extra in (["--json"], []):
        code, out, err = cli("run", *args, *extra)
        assert code == 0, err
        outputs += [out, err]
    result = json.loads(outputs[0])
    assert result["new_env"]["CM_SAW_ALL"] == "yes"
    assert result["secret_keys"] == sorted(FAMILY_KEYS)
    assert {k: result["new_env"].get(k) for k in LOOKALIKES} == LOOKALIKES
    (record,) = (Path(os.environ["CMSM_HOME"]) / "cache" / "keeps-all").glob("*/cmsm-result.json")
    assert json.loads(record.read_text())["secret_keys"] == sorted(FAMILY_KEYS)
    found = [
        f"{path}: {k}"
        for path in tmp_path.rglob("*")
        if path.is_file() and not path.is_symlink()
        for k, v in values.items()
        if v.encode() in path.read_bytes()
    ]
    found += [f"output: {k}" for text in outputs for k, v in values.items() if v in text]
    assert found == []
