"""Compiled runs give what one process gives: run-time env and state between jobs, the order
of post-dependencies, keys that a run writing into a script's folder does not change.

Each test runs the same request through ``cm-snakemake run`` (one process) and through
``cm-snakemake run --jobs=2`` (one Snakemake job per node) and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..conftest import RepoMaker

COMMAND = [sys.executable, "-m", "cm_snakemake"]


def _cm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _run_json(*args: str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    done = _cm("run", *args, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _plan(request: str, *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    done = _cm("plan", request, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    plan: dict[str, Any] = json.loads(done.stdout)
    return plan


FLOW = {
    # parent: deps maker (a run-time export and a state key), then reader, which reads both;
    # a post dependency that reads what the parent's own native script exported
    "parent": """\
        alias: parent
        uid: '1300000000000001'
        tags: [parent]
        new_env_keys: [CM_SEEN_*, CM_P]
        deps:
          - tags: maker
          - tags: reader
          - tags: bystander
        post_deps:
          - tags: post
    """,
    "maker": """\
        alias: maker
        uid: '1300000000000002'
        tags: [maker]
        new_env_keys: [CM_MADE]
        new_state_keys: [made]
    """,
    "reader": """\
        alias: reader
        uid: '1300000000000003'
        tags: [reader]
        new_env_keys: [CM_SEEN_BY_READER, CM_SEEN_STATE]
    """,
    "bystander": """\
        alias: bystander
        uid: '1300000000000005'
        tags: [bystander]
        new_env_keys: [CM_SEEN_BY_BYSTANDER]
    """,
    "post": """\
        alias: post
        uid: '1300000000000004'
        tags: [post]
        new_env_keys: [CM_SEEN_BY_POST]
    """,
}
FLOW_FILES = {
    "maker/run.sh": 'echo made >> "$CM_ORDER_FILE"\n'
    "echo CM_MADE=made-at-$(date +%s%N) > tmp-run-env.out\n",
    "maker/customize.py": "def postprocess(i):\n    i['state']['made'] = 'state-from-maker'\n"
    "    return {'return': 0}\n",
    "reader/run.sh": "echo CM_SEEN_BY_READER=${CM_MADE:-nothing} > tmp-run-env.out\n",
    "reader/customize.py": "def preprocess(i):\n"
    "    i['env']['CM_SEEN_STATE'] = i['state'].get('made', 'nothing')\n"
    "    return {'return': 0}\n",
    "bystander/run.sh": "echo CM_SEEN_BY_BYSTANDER=yes > tmp-run-env.out\n",
    "parent/run.sh": 'echo parent >> "$CM_ORDER_FILE"\necho CM_P=parent-ran > tmp-run-env.out\n',
    "post/run.sh": 'echo post >> "$CM_ORDER_FILE"\n'
    "echo CM_SEEN_BY_POST=${CM_P:-nothing} > tmp-run-env.out\n",
}


def _setup(make_repo: RepoMaker, home: Path, name: str, scripts: dict[str, str],
           files: dict[str, str]) -> tuple[Path, dict[str, str]]:  # fmt: skip
    root = make_repo(name, scripts, files=files)
    env = {**os.environ, "CMSM_HOME": str(home)}
    assert _cm("repo", "add", str(root), cwd=home.parent, env=env).returncode == 0
    return root, env


def test_run_time_env_and_state_reach_the_jobs_after_them(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    _, env = _setup(make_repo, home, "flow", FLOW, FLOW_FILES)
    one = _run_json(
        "parent", cwd=tmp_path / "one", env={**env, "CM_ORDER_FILE": str(tmp_path / "one.order")}
    )
    jobs = _run_json(
        "parent",
        "--jobs=2",
        cwd=tmp_path / "jobs",
        env={**env, "CM_ORDER_FILE": str(tmp_path / "jobs.order")},
    )

    for result in (one, jobs):
        seen = result["new_env"]
        assert seen["CM_SEEN_BY_READER"].startswith("made-at-"), seen  # maker's run-time value
        assert seen["CM_SEEN_STATE"] == "state-from-maker", seen  # maker's state
        assert seen["CM_SEEN_BY_POST"] == "parent-ran", seen  # after the parent's script
    assert set(one["new_env"]) == set(jobs["new_env"])
    # the post dependency ran after its parent's native script, as in one process
    for order in ("one.order", "jobs.order"):
        assert (tmp_path / order).read_text().split() == ["made", "parent", "post"]


def test_the_plan_orders_readers_after_writers_and_keeps_the_rest_parallel(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    _, env = _setup(make_repo, home, "flow", FLOW, FLOW_FILES)
    nodes = {n["alias"]: n for n in _plan("parent", cwd=tmp_path, env=env)["nodes"]}
    deps = {d["tags"]: d for d in nodes["parent"]["deps"]}
    maker = nodes["maker"]["key"]
    assert deps["reader"]["after"] == [maker]  # it reads CM_MADE, which maker's script writes
    assert deps["bystander"]["after"] == []  # reads nothing of maker's: runs beside it
    assert "native script of parent" in deps["post"]["inline"]  # a post dependency: in the job
    assert not deps["reader"]["inline"] and not deps["maker"]["inline"]


WRITER = {
    "writer": """\
        alias: writer
        uid: '0000000000001311'
        tags: [writer]
        new_env_keys: [CM_WRITTEN]
    """,
}
WRITER_FILES = {
    # as generate-mlperf-inference-user-conf: a new file in its own folder on every run
    "writer/run.sh": 'mkdir -p "$CM_TMP_CURRENT_SCRIPT_PATH/tmp"\n'
    'date +%s%N > "$CM_TMP_CURRENT_SCRIPT_PATH/tmp/$(date +%s%N).conf"\n'
    'date +%s%N > "$CM_TMP_CURRENT_SCRIPT_PATH/made-$(date +%s%N).txt"\n'
    'echo CM_WRITTEN=$(cat "$CM_TMP_CURRENT_SCRIPT_PATH/data.txt") > tmp-run-env.out\n',
    "writer/data.txt": "shipped-1\n",
}


def test_a_script_writing_into_its_folder_keeps_its_key_and_a_shipped_file_changes_it(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    root, env = _setup(make_repo, home, "writes", WRITER, WRITER_FILES)
    work = tmp_path / "wf"
    first = _run_json("writer", "--jobs=2", cwd=work, env=env)
    assert first["new_env"] == {"CM_WRITTEN": "shipped-1"}
    folder = root / "script" / "writer"
    assert list(folder.glob("tmp/*.conf")) and list(folder.glob("made-*.txt"))

    again = _cm("run", "writer", "--jobs=2", cwd=work, env=env)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stderr, again.stderr
    assert _run_json("writer", cwd=tmp_path / "one", env=env)["key"] == first["key"]

    (folder / "data.txt").write_text("shipped-2\n")  # a file it shipped: its meaning changed
    changed = _run_json("writer", "--jobs=2", cwd=work, env=env)
    assert changed["key"] != first["key"]
    assert changed["new_env"] == {"CM_WRITTEN": "shipped-2"}


def test_a_missing_compiled_node_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CMSM_HOME": str(home)}
    done = _cm("job", f"--plan={tmp_path}/gone.json", "--key=" + "0" * 32, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "cannot read the compiled node" in done.stderr and "run Snakemake again" in done.stderr


SHARED = {
    # two callers with different env call the same script the same way; it reads nothing
    # of what differs, so both share one node (one job), as one process shares one result
    "top": """\
        alias: top
        uid: '1300000000000021'
        tags: [top]
        new_env_keys: [CM_SHARED_*]
        deps:
          - tags: left
          - tags: right
    """,
    "left": """\
        alias: left
        uid: '1300000000000022'
        tags: [left]
        env: {CM_SIDE: left}
        deps:
          - tags: shared
    """,
    "right": """\
        alias: right
        uid: '1300000000000023'
        tags: [right]
        env: {CM_SIDE: right}
        deps:
          - tags: shared
    """,
    "shared": """\
        alias: shared
        uid: '1300000000000024'
        tags: [shared]
        new_env_keys: [CM_SHARED_RUN]
    """,
}
SHARED_FILES = {
    "shared/run.sh": 'echo run >> "$CM_COUNT_FILE"\necho CM_SHARED_RUN=$$ > tmp-run-env.out\n',
}


def test_identical_calls_from_different_callers_share_one_job(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    _, env = _setup(make_repo, home, "shared", SHARED, SHARED_FILES)
    aliases = [n["alias"] for n in _plan("top", cwd=tmp_path, env=env)["nodes"]]
    assert aliases.count("shared") == 1
    for name, extra in (("one", ()), ("jobs", ("--jobs=2",))):
        count = tmp_path / f"{name}.count"
        _run_json("top", *extra, cwd=tmp_path / name, env={**env, "CM_COUNT_FILE": str(count)})
        assert count.read_text().split() == ["run"], name  # one run of the shared script


NESTED = {
    # a post dependency (run inside its caller's job, after its native script) whose own two
    # dependencies are independent: a nested Snakemake run schedules them side by side
    "outer": """\
        alias: outer
        uid: '1400000000000001'
        tags: [outer]
        new_env_keys: [CM_POST_SAW]
        post_deps:
          - tags: after
    """,
    "after": """\
        alias: after
        uid: '1400000000000002'
        tags: [after]
        new_env_keys: [CM_POST_SAW]
        deps:
          - tags: slow,a
          - tags: slow,b
    """,
    "slow-a": "alias: slow-a\nuid: '14000000000000aa'\ntags: [slow, a]\n"
    "new_env_keys: [CM_SLOW_A]\n",
    "slow-b": "alias: slow-b\nuid: '14000000000000bb'\ntags: [slow, b]\n"
    "new_env_keys: [CM_SLOW_B]\n",
}
SLOW = 'echo "start {x} $(date +%s.%N)" >> "$CM_LOG"\nsleep 2\n'
SLOW += 'echo "end {x} $(date +%s.%N)" >> "$CM_LOG"\necho CM_SLOW_{X}=done > tmp-run-env.out\n'
NESTED_FILES = {
    "outer/run.sh": "echo CM_P=outer-ran > tmp-run-env.out\n",
    "after/run.sh": "echo CM_POST_SAW=${CM_P:-x}-${CM_SLOW_A:-x}-${CM_SLOW_B:-x} "
    "> tmp-run-env.out\n",
    "slow-a/run.sh": SLOW.format(x="a", X="A"),
    "slow-b/run.sh": SLOW.format(x="b", X="B"),
}


def test_a_subtree_run_inside_a_job_is_scheduled_by_a_nested_snakemake_run(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    _, env = _setup(make_repo, home, "nested", NESTED, NESTED_FILES)
    one = _run_json("outer", cwd=tmp_path / "one", env={**env, "CM_LOG": str(tmp_path / "one.log")})
    log = tmp_path / "jobs.log"
    done = _cm("run", "outer", "--jobs=2", "--json", cwd=tmp_path / "jobs",
               env={**env, "CM_LOG": str(log), "CMSM_NESTED_JOBS": "2"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)
    assert one["new_env"] == jobs["new_env"] == {"CM_POST_SAW": "outer-ran-done-done"}
    assert "/.cmsm/sub/" in done.stderr and "--cores 2" in done.stderr  # the nested run
    times = {
        (kind, name): float(t)
        for kind, name, t in (x.split() for x in log.read_text().splitlines())
    }
    # side by side: each started before the other ended
    assert times[("start", "a")] < times[("end", "b")]
    assert times[("start", "b")] < times[("end", "a")]

    again = _cm("run", "outer", "--jobs=2", cwd=tmp_path / "jobs", env={**env, "CM_LOG": str(log)})
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr


def test_nested_runs_can_be_turned_off(make_repo: RepoMaker, home: Path, tmp_path: Path) -> None:
    _, env = _setup(make_repo, home, "nested", NESTED, NESTED_FILES)
    log = tmp_path / "jobs.log"
    done = _cm("run", "outer", "--jobs=2", "--json", cwd=tmp_path / "jobs",
               env={**env, "CM_LOG": str(log), "CMSM_NESTED_JOBS": "0"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new_env"] == {"CM_POST_SAW": "outer-ran-done-done"}
    assert "/.cmsm/sub/" not in done.stderr
    starts = [x.split()[1] for x in log.read_text().splitlines() if x.startswith("start")]
    assert sorted(starts) == ["a", "b"]


def _installer(alias: str, uid: str, tag: str) -> str:
    return (
        f"alias: {alias}\nuid: '{uid}'\ntags: [{tag}]\nnew_env_keys: [CM_SLOW_*]\n"
        "variations:\n  a:\n    env:\n      CM_X: a\n  b:\n    env:\n      CM_X: b\n"
    )


INSTALLS = {
    # CM's and MLC's get-generic-python-lib pip-installs into the one Python the jobs share,
    # without a lock: cm-snakemake runs one at a time per Python; another alias runs freely
    "get-generic-python-lib": _installer("get-generic-python-lib", "1500000000000001", "lib"),
    "other-lib": _installer("other-lib", "1500000000000002", "other"),
    "libs": "alias: libs\nuid: '1500000000000003'\ntags: [libs]\n"
    "deps:\n  - tags: lib,_a\n  - tags: lib,_b\n",
    "others": "alias: others\nuid: '1500000000000004'\ntags: [others]\n"
    "deps:\n  - tags: other,_a\n  - tags: other,_b\n",
}
INSTALL = 'echo "start $CM_X $(date +%s.%N)" >> "$CM_LOG"\nsleep 2\n'
INSTALL += (
    'echo "end $CM_X $(date +%s.%N)" >> "$CM_LOG"\necho CM_SLOW_$CM_X=done > tmp-run-env.out\n'
)
INSTALL_FILES = {"get-generic-python-lib/run.sh": INSTALL, "other-lib/run.sh": INSTALL}


def test_installs_into_one_python_run_one_at_a_time_in_parallel_jobs(
    make_repo: RepoMaker, home: Path, tmp_path: Path
) -> None:
    _, env = _setup(make_repo, home, "installs", INSTALLS, INSTALL_FILES)

    def spans(request: str) -> dict[str, tuple[float, float]]:
        log = tmp_path / f"{request}.log"
        done = _cm("run", request, "--jobs=2", cwd=tmp_path / request,
                   env={**env, "CM_LOG": str(log)})  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("CM script ") >= 3  # each dependency a job of its own
        times = {
            (k, x): float(t) for k, x, t in (ln.split() for ln in log.read_text().splitlines())
        }
        return {x: (times[("start", x)], times[("end", x)]) for x in ("a", "b")}

    others = spans("others")  # the same scripts under another alias: side by side
    assert others["a"][0] < others["b"][1] and others["b"][0] < others["a"][1]
    libs = spans("libs")
    first, second = sorted(libs.values())
    assert first[1] <= second[0], libs  # one install after the other
