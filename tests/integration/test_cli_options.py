"""The command line's options end to end: yes/no flags, values, engine inputs, ``--json``
output, and the SLURM profile written from one template."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import RepoMaker, cli

ROOT = Path(__file__).resolve().parents[2]

NOISY = """\
alias: noisy
uid: 'a0000000000000a1'
tags: [noisy]
cache: true
new_env_keys: [CM_NOISY_*]
"""
NOISY_HOOKS = """\
import os


def preprocess(i):
    print("hello from preprocess")
    os.system("echo hello from a process the hook started")
    return {"return": 0}


def postprocess(i):
    print("hello from postprocess")
    i["env"]["CM_NOISY_HOOKED"] = "yes"
    return {"return": 0}
"""
NOISY_RUN = """\
echo "hello from run.sh"
uname -a
echo CM_NOISY_RAN=yes > tmp-run-env.out
"""
THING = """\
alias: get-thing
uid: 'a0000000000000a2'
tags: [get, thing]
input_mapping: {flavour: CM_THING_FLAVOUR}
new_env_keys: [CM_THING_*]
"""
THING_RUN = 'echo "CM_THING_FLAVOUR_SEEN=${CM_THING_FLAVOUR:-none}" > tmp-run-env.out\n'


@pytest.fixture
def noisy(make_repo: RepoMaker) -> Path:
    root = make_repo(
        "noisy",
        {"noisy": NOISY, "get-thing": THING},
        files={
            "noisy/customize.py": NOISY_HOOKS,
            "noisy/run.sh": NOISY_RUN,
            "get-thing/run.sh": THING_RUN,
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    return root


def _env_lines(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines())


# -- 1. yes/no flags: =no and a trailing dash mean no, everywhere ----------------------------


@pytest.mark.parametrize("off", ["--dry-run=no", "--dry-run-", "--dry_run=false"])
def test_run_with_dry_run_off_runs(off: str) -> None:
    """``run "detect os" --dry-run=no`` printed the plan instead of running the script."""
    code, out, err = cli("run", "detect os", off, "--no-facts")
    assert code == 0, err
    assert _env_lines(out)["CM_HOST_OS_TYPE"] == sys.platform.rstrip("0123456789")
    code, out, _ = cli("run", "detect os", "--dry-run=yes", "--no-facts")
    assert code == 0 and "decided at plan time" in out


@pytest.mark.parametrize("off", ["--json=no", "--json-"])
def test_run_with_json_off_prints_key_value_lines(off: str) -> None:
    """``run "detect os" --json=no`` printed JSON."""
    code, out, err = cli("run", "detect os", off, "--no-facts")
    assert code == 0, err
    assert not out.lstrip().startswith("{")
    assert "CM_HOST_OS_TYPE" in _env_lines(out)


def test_new_off_reuses_the_cache_entry(noisy: Path) -> None:
    """``--new=no`` rebuilt the entry: run read the flag raw ("no" is true) when planning."""
    first = json.loads(cli("run", "noisy", "--json", "--no-facts")[1])
    # with this machine's facts (none kept yet), so that the request is planned again
    again = json.loads(cli("run", "noisy", "--json", "--new=no")[1])
    assert again["key"] == first["key"] and again["from_cache"] is True
    rebuilt = json.loads(cli("run", "noisy", "--json", "--renew=yes")[1])
    assert rebuilt["key"] == first["key"] and rebuilt["from_cache"] is False


# -- 2. the engine's inputs: one set, the same for run and plan -----------------------------


@pytest.mark.parametrize(
    "flag",
    [
        "--outdirname=out",
        "--outbasename=b",
        "--accept_license",
        "--skip_system_deps",
        "--state.X=1",
        "--skip_cache",
    ],
)
def test_run_and_plan_accept_the_same_engine_inputs(noisy: Path, flag: str) -> None:
    """plan refused ``--outdirname`` that run accepted (three copies of the set), and both
    refused ``--accept_license``, which the planner copies into the env."""
    code, _, err = cli("plan", "get thing", flag, "--no-facts")
    assert code == 0, err
    code, _, err = cli("run", "get thing", flag, "--no-facts", "--dry-run")
    assert code == 0, err


def test_script_inputs_the_script_does_not_take_are_errors(noisy: Path) -> None:
    for command in (["plan"], ["run", "--dry-run"]):
        code, _, err = cli(*command, "get thing", "--flavor=big", "--no-facts")
        assert code == 1 and "--flavor (did you mean --flavour?)" in err
    code, out, err = cli("run", "get thing", "--flavour=big", "--no-facts")
    assert code == 0, err
    assert _env_lines(out)["CM_THING_FLAVOUR_SEEN"] == "big"


def test_version_is_an_input_of_run_and_plan() -> None:
    """``plan X --version=3.9`` failed: "--version expects yes or no"."""
    code, out, err = cli("plan", "detect os", "--version=3.9", "--no-facts")
    assert code == 0, err
    assert "version=3.9" in out.splitlines()[0]
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("cm-snakemake ")


def test_verbose_is_not_a_script_input() -> None:
    """``--verbose`` reached the planner as an input, and so changed the plan's keys."""
    keys = []
    for extra in ([], ["--verbose"], ["--v"]):
        code, out, err = cli("plan", "detect os", "--no-facts", "--json", *extra)
        assert code == 0, err
        keys.append(json.loads(out)["root"])
    assert len(set(keys)) == 1


# -- 3. values: in the same word, after "=" --------------------------------------------------


def test_a_value_after_a_space_says_how_to_write_it() -> None:
    """``run "detect cpu" --jobs 2`` said "unexpected argument '2' ... Give one alias"."""
    code, _, err = cli("run", "detect cpu", "--jobs", "2")
    assert code == 1
    assert "--jobs needs a value: write --jobs=2" in err
    assert "unexpected argument" not in err
    code, _, err = cli("cache", "gc", "--older-than", "7", "--dry-run")
    assert code == 1 and "--older-than needs a value: write --older-than=7" in err


def test_a_script_input_after_a_space_gets_the_same_hint(noisy: Path) -> None:
    code, _, err = cli("run", "get-thing", "--flavour", "big", "--no-facts")
    assert code == 1
    assert "unexpected argument 'big'" in err
    assert "write --flavour=big" in err


def test_help_of_an_action(noisy: Path) -> None:
    code, out, _ = cli("cache", "gc", "--help")
    assert code == 0 and out.startswith("usage: cm-snakemake cache gc")
    assert "--older-than=DAYS" in out and "cache list" not in out
    code, out, _ = cli("help", "profile", "init", "local")
    assert out.startswith("usage: cm-snakemake profile init local") and "--partition" not in out
    code, _, err = cli("profile", "init", "local", "--partition=gpu")
    assert code == 1 and "unknown flag: --partition" in err


# -- 4. run --json: standard output holds the JSON document only ----------------------------


def _run_json(*args: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "cm_snakemake", "run", *args, "--json", "--no-facts"],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_run_json_on_a_cold_run_of_scripts_that_print(noisy: Path) -> None:
    """Native scripts and hooks print (``gcc --version``, pip): on a cold run that went to
    standard output, before the JSON."""
    result, err = _run_json("noisy")
    assert result["new_env"] == {"CM_NOISY_RAN": "yes", "CM_NOISY_HOOKED": "yes"}
    for line in (
        "hello from preprocess",
        "hello from a process the hook started",
        "hello from run.sh",
        "hello from postprocess",
    ):
        assert line in err


def test_run_json_on_a_cold_run_of_a_bundled_script(tmp_path: Path) -> None:
    data = tmp_path / "weights.bin"
    data.write_bytes(b"0123456789" * 100)
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    result, err = _run_json("download-file-verified", f"--url={data.as_uri()}", f"--sha256={sha}")
    assert result["new_env"]["CM_DOWNLOAD_CHECKSUM_VERIFIED"] == f"sha256:{sha}"
    assert "(verified)" in err  # download.py's own report, on standard error now


# -- 6. the SLURM profile: one template --------------------------------------------------------


def test_the_repository_slurm_profile_is_what_profile_init_writes(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    code, _, err = cli("profile", "init", "slurm", "--out=profiles/slurm")
    assert code == 0, err
    written = (tmp_path / "profiles" / "slurm" / "config.yaml").read_text()
    shipped = (ROOT / "profiles" / "slurm" / "config.yaml").read_text()
    assert written == shipped, (
        "profiles/slurm/config.yaml differs from its template in cm_snakemake/cli/"
        "profile_cmd.py: run 'cm-snakemake profile init slurm --out=profiles/slurm' from the "
        "repository root"
    )


def test_site_profiles_keep_their_values_and_say_how_they_were_written(tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "site"
    code, _, err = cli(
        "profile", "init", "slurm", "--partition=gpu", "--jobs=7", "--accounting", f"--out={out}"
    )
    assert code == 0, err
    text = (out / "config.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["jobs"] == 7 and config["default-resources"]["slurm_partition"] == "gpu"
    assert "slurm-status-command" not in config
    assert "--partition=gpu --jobs=7 --accounting" in text
    code, _, err = cli("profile", "init", "local", "--cores=some", f"--out={tmp_path / 'l'}")
    assert code == 1 and "--cores expects a whole number or 'all'" in err
