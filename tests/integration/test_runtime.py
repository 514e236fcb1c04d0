"""The runtime and cache store: caching, hooks, failures, kills and concurrent builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

SLOW_SCRIPT = """\
echo "started $$" >> "$CMSM_TEST_LOG"
echo partial > partial.txt
if [ -n "$CMSM_TEST_SLOW" ]; then sleep "$CMSM_TEST_SLOW"; fi
echo "CM_BUILT_VALUE=built-by-$$" >> tmp-run-env.out
echo "finished $$" >> "$CMSM_TEST_LOG"
"""


@pytest.fixture
def repo(make_repo: RepoMaker) -> Path:
    root = make_repo(
        "rt",
        {
            "build-thing": "alias: build-thing\nuid: 'b000000000000001'\ntags: [build, thing]\n"
            "cache: true\nnew_env_keys: [CM_BUILT_*]\n",
            "use-thing": "alias: use-thing\nuid: 'b000000000000002'\ntags: [use, thing]\n"
            "deps: [{tags: 'build,thing'}]\nnew_env_keys: [CM_USED]\n",
            "hooked": "alias: hooked\nuid: 'b000000000000003'\ntags: [hooked]\ncache: true\n"
            "new_env_keys: [CM_HOOK_*]\nvariations:\n  loud: {env: {CM_HOOK_LOUD: 'yes'}}\n",
            "broken-hook": "alias: broken-hook\nuid: 'b000000000000004'\ntags: [broken-hook]\n",
        },
        files={
            "build-thing/run.sh": SLOW_SCRIPT,
            "use-thing/run.sh": 'echo "CM_USED=$CM_BUILT_VALUE" >> tmp-run-env.out\n',
            "hooked/customize.py": (
                "from cmind import utils\n\n"
                "def preprocess(i):\n"
                "    env = i['env']\n"
                "    env['CM_HOOK_PRE'] = 'loud' if env.get('CM_HOOK_LOUD') == 'yes' else 'quiet'\n"
                "    return {'return': 0}\n\n"
                "def postprocess(i):\n"
                "    r = utils.load_txt('tmp-run.out', split=True)\n"
                "    i['env']['CM_HOOK_FROM_RUN'] = r['list'][0]\n"
                "    return {'return': 0, 'version': '1.2.3'}\n"
            ),
            "hooked/run.sh": 'echo "$CM_HOOK_PRE" > tmp-run.out\n',
            "broken-hook/customize.py": "def preprocess(i):\n    return 1 / 0\n",
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    return root


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "builds.log"
    monkeypatch.setenv("CMSM_TEST_LOG", str(path))
    monkeypatch.delenv("CMSM_TEST_SLOW", raising=False)
    return path


def run_json(*argv: str) -> dict[str, object]:
    code, out, err = cli("run", *argv, "--json", "--no-facts")
    assert code == 0, err
    data: dict[str, object] = json.loads(out)
    return data


def test_cached_node_is_built_once_and_reused(repo: Path, log: Path, home: Path) -> None:
    first = run_json("build thing")
    second = run_json("build thing")
    assert first["from_cache"] is False and second["from_cache"] is True
    assert first["new_env"] == second["new_env"]
    assert log.read_text().count("finished") == 1
    entry = Path(str(first["path"]))
    assert entry.is_relative_to(home / "cache" / "build-thing")
    assert json.loads((entry / "cm-cached-state.json").read_text())["new_env"] == first["new_env"]
    assert (entry / "partial.txt").is_file()  # the script's own files stay in its entry
    used = run_json("use thing")
    assert used["new_env"] == {"CM_USED": first["new_env"]["CM_BUILT_VALUE"]}  # type: ignore[index]
    assert log.read_text().count("finished") == 1  # the dependency came from the cache
    rebuilt = run_json("build thing", "--new")
    assert rebuilt["from_cache"] is False and log.read_text().count("finished") == 2


def test_new_on_a_complete_entry_says_it_rebuilds_not_that_a_build_failed(
    repo: Path, log: Path
) -> None:
    first = run_json("build thing", "--verbose")
    code, out, err = cli("run", "build thing", "--new", "--json", "--no-facts", "--verbose")
    assert code == 0, err
    rebuilt = json.loads(out)
    assert rebuilt["path"] == first["path"] and log.read_text().count("finished") == 2
    assert "incomplete" not in err and "failed or was killed" not in err
    assert f"rebuilding the cache entry of build-thing (--new): {first['path']}" in err


def test_hooks_and_variations(repo: Path, log: Path) -> None:
    quiet = run_json("hooked")
    loud = run_json("hooked _loud")
    assert quiet["new_env"] == {"CM_HOOK_PRE": "quiet", "CM_HOOK_FROM_RUN": "quiet"}
    assert loud["new_env"] == {
        "CM_HOOK_PRE": "loud",
        "CM_HOOK_FROM_RUN": "loud",
        "CM_HOOK_LOUD": "yes",
    }
    assert quiet["version"] == "1.2.3"
    assert quiet["path"] != loud["path"]  # variations are part of the key


def test_a_failing_hook_names_script_hook_and_line(repo: Path) -> None:
    code, _, err = cli("run", "broken-hook", "--no-facts")
    assert code == 2
    assert "script 'rt:broken-hook' failed in preprocess: ZeroDivisionError" in err
    assert "customize.py:2" in err


def test_cache_commands(repo: Path, log: Path) -> None:
    built = run_json("build thing")
    key = str(built["key"])
    code, out, _ = cli("cache", "list")
    assert code == 0 and f"{key[:12]}  build-thing" in out
    code, out, _ = cli("cache", "show", key[:10])
    assert json.loads(out)["new_env"] == built["new_env"]
    code, out, _ = cli("cache", "gc", "--older-than=0", "--dry-run")
    assert "would remove" in out and Path(str(built["path"])).is_dir()
    code, out, _ = cli("cache", "rm", "--tags=build-thing")
    assert "removed" in out and not Path(str(built["path"])).exists()


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a run in its own process group, as a batch system starts a job."""
    return subprocess.Popen(
        [sys.executable, "-m", "cm_snakemake", "run", *args, "--json", "--no-facts"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"'{text}' did not appear in {path}")


@pytest.mark.parametrize("kill_after", [0.0, 0.3])
def test_a_killed_build_leaves_nothing_trusted(
    repo: Path, log: Path, home: Path, kill_after: float
) -> None:
    env = {**os.environ, "CMSM_TEST_SLOW": "30"}
    proc = _start(["build thing"], env)
    _wait_for(log, "started")
    time.sleep(kill_after)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its script, as when a job is killed
    proc.communicate()
    entries = list((home / "cache" / "build-thing").iterdir())
    (folder,) = [p for p in entries if not p.name.startswith(".")]
    assert (folder / "partial.txt").is_file() and not (folder / "cmsm-result.json").exists()
    code, out, _ = cli("cache", "list")
    assert "incomplete" in out and "  build-thing" not in out
    code, out, err = cli("run", "build thing", "--json", "--no-facts")
    assert code == 0, err
    assert "removed an incomplete cache entry of build-thing" in err
    result = json.loads(out)
    assert result["from_cache"] is False and result["new_env"]["CM_BUILT_VALUE"].startswith(
        "built-by"
    )
    assert log.read_text().count("finished") == 1


def test_concurrent_requests_build_once(repo: Path, log: Path) -> None:
    env = {**os.environ, "CMSM_TEST_SLOW": "1"}
    procs = [_start(["build thing"], env) for _ in range(3)]
    outputs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert len({json.dumps(r["new_env"]) for r in results}) == 1
    assert sorted(r["from_cache"] for r in results) == [False, True, True]
    assert log.read_text().count("started") == 1


def test_a_remembered_request_follows_edits(repo: Path, log: Path, home: Path) -> None:
    """The second run of a request skips planning; an edited script is planned (and built)
    again, because its files are part of the key."""
    first = run_json("build thing")
    assert (home / "index" / "requests.marshal").is_file()
    again = run_json("build thing")
    assert again["from_cache"] is True and again["new_env"] == first["new_env"]
    script = repo / "script" / "build-thing" / "run.sh"
    script.write_text(script.read_text() + 'echo "CM_BUILT_EXTRA=yes" >> tmp-run-env.out\n')
    edited = run_json("build thing")
    assert edited["from_cache"] is False and edited["key"] != first["key"]
    assert edited["new_env"]["CM_BUILT_EXTRA"] == "yes"  # type: ignore[index]
    meta = repo / "script" / "build-thing" / "_cm.yaml"
    meta.write_text(meta.read_text() + "env: {CM_BUILT_MODE: fast}\n")
    assert run_json("build thing")["from_cache"] is False
    code, _, err = cli("run", "build thing", "--no-facts", "--colour=red")
    assert code == 1 and "--colour" in err  # flags are still checked on the fast path


def test_a_moved_cache_root_still_works(repo: Path, log: Path, home: Path, tmp_path: Path) -> None:
    built = run_json("build thing")
    (home / "cache").rename(tmp_path / "moved-cache")
    code, out, err = cli(
        "run", "build thing", "--json", "--no-facts", f"--cache-dir={tmp_path / 'moved-cache'}"
    )
    assert code == 0, err
    moved = json.loads(out)
    assert moved["from_cache"] is True and moved["new_env"] == built["new_env"]
    assert moved["path"].startswith(str(tmp_path / "moved-cache"))


def test_script_failures_name_the_variations(make_repo: RepoMaker) -> None:
    root = make_repo(
        "fails",
        {"fail": "alias: fail\nuid: 'f000000000000009'\ntags: [fail]\nvariations: {hard: {}}\n"},
        files={"fail/run.sh": "exit 4\n"},
    )
    cli("repo", "add", str(root))
    code, _, err = cli("run", "fail _hard", "--no-facts")
    assert code == 2 and "script 'fails:fail _hard' failed" in err and "exit code 4" in err
