"""The command line: find, list, show, repo, run, help and errors with exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import DATA, RepoMaker, cli

COMMANDS = ["find", "list", "show", "run", "repo", "plan", "facts", "cache", "job", "profile",
            "results"]  # fmt: skip


@pytest.fixture
def demo(make_repo: RepoMaker) -> Path:
    root = make_repo(
        "demo",
        {
            "get-thing": "alias: get-thing\nuid: '0123456789abcdef'\ntags: [get, thing]\n"
            "input_mapping: {flavour: CM_THING_FLAVOUR}\n"
            "variations:\n  big: {group: size, default: true}\n  small: {group: size}\n",
            "broken": "alias: broken\nuid: '1'\ntags: [get, broken\n",
            "no-tags": "alias: no-tags\nuid: '2'\n",
        },
    )
    assert cli("repo", "add", str(root))[0] == 0
    return root


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    code, out, _ = cli(command, "--help")
    assert code == 0
    assert out.startswith("usage: cm-snakemake " + command)
    assert cli("help", command)[1] == out


def test_main_help_and_unknown_command() -> None:
    code, out, _ = cli("--help")
    assert code == 0 and all(c in out for c in COMMANDS)
    code, _, err = cli("frobnicate")
    assert code == 1 and "unknown command 'frobnicate'" in err
    assert cli()[0] == 1


def test_find_prints_paths_in_cm_order(demo: Path) -> None:
    code, out, _ = cli("find", "script", "--tags=get,thing")
    assert code == 0
    assert out.splitlines() == [str(demo.resolve() / "script" / "get-thing")]
    code, out, _ = cli("find", "get thing _small", "--json")
    assert json.loads(out)[0]["alias"] == "get-thing"


def test_unreadable_scripts_are_named_on_stderr(demo: Path) -> None:
    code, _, err = cli("find", "--tags=get,thing")
    assert code == 0
    broken = demo.resolve() / "script" / "broken" / "_cm.yaml"
    assert f"{broken}:4: broken YAML" in err
    assert "while parsing a flow sequence that starts at line 3" in err
    assert "required key 'tags' is missing" in err


def test_show_broken_yaml_names_file_and_line(demo: Path) -> None:
    code, out, err = cli("show", "script", "broken")
    assert code == 1
    assert "script 'broken' cannot be read" in err
    assert "broken/_cm.yaml:4: broken YAML" in err
    code, out, _ = cli("repo", "check", "demo")
    assert code == 1
    assert "broken/_cm.yaml:4: broken YAML" in out
    assert "no-tags/_cm.yaml: the required key 'tags' is missing" in out
    assert "3 scripts in 1 repositories: 1 usable, 2 unreadable" in out


def test_show_describes_variations_groups_and_input_mapping(demo: Path) -> None:
    code, out, _ = cli("show", "script", "get-thing")
    assert code == 0
    assert "group size: _big (default), _small" in out
    assert "--flavour -> CM_THING_FLAVOUR" in out
    code, out, _ = cli("show", "get-thing", "--json")
    assert json.loads(out)["variations"]["big"]["is_default"] is True


def test_ambiguous_show_lists_candidates() -> None:
    code, _, err = cli("show", "detect")
    assert code == 1
    assert "'detect' matches" not in err  # a single word is an alias, not tags
    code, _, err = cli("show", "detect info")
    assert code == 1
    assert "matches 2 scripts" in err and "detect-os" in err and "detect-cpu" in err
    assert "cm-snakemake show script" in err


def test_unknown_tag_gets_suggestions() -> None:
    code, _, err = cli("find", "--tags=detect,cpuu")
    assert code == 1
    assert "unknown tag 'cpuu'" in err
    assert "did you mean one of these tags: cpu" in err
    assert "detect-cpu" in err


def test_conflicting_tags() -> None:
    code, _, err = cli("find", "detect,os,-os")
    assert code == 1
    assert "tag 'os' is requested both as 'os' and as '-os'" in err


def test_misspelled_flag_is_reported() -> None:
    code, _, err = cli("find", "--tagz=detect")
    assert code == 1
    assert "--tagz (did you mean --tags?)" in err


def test_list_and_repo_list(demo: Path) -> None:
    code, out, _ = cli("list", "script")
    assert code == 0
    assert "detect-os" in out and "get-thing" in out
    code, out, _ = cli("repo", "list", "--json")
    rows = json.loads(out)
    assert [r["alias"] for r in rows] == ["cm-snakemake", "demo"]
    assert rows[0]["bundled"] is True
    assert cli("repo", "rm", "demo")[0] == 0
    assert "demo" not in cli("repo", "list")[1]


def test_mlc_repository_through_the_cli() -> None:
    code, out, _ = cli("repo", "add", str(DATA / "mlc-repo"))
    assert code == 0 and "(mlc dialect): 3 scripts, 0 unreadable" in out
    code, out, _ = cli("find", "get mlc-tool _path.x")
    assert out.strip().endswith("get-mlc-tool")
    code, out, _ = cli("show", "get-mlc-tool", "--json")
    meta = json.loads(out)
    assert meta["dialect"] == "mlc" and meta["default_version"] == "20.10"


def test_run_resolves_variations(demo: Path) -> None:
    code, out, err = cli("run", "get thing _small", "--json")
    assert code == 0, err
    assert json.loads(out)["script"] == "demo:get-thing"


def test_run_detect_os_for_real() -> None:
    code, out, err = cli("run", "detect os")
    assert code == 0, err
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["CM_HOST_OS_TYPE"] == sys.platform.rstrip("0123456789")
    assert env["CM_HOST_PLATFORM_FLAVOR"] == os.uname().machine
    if Path("/etc/os-release").is_file():
        fields = dict(
            line.split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
        assert env["CM_HOST_OS_FLAVOR"] == fields["ID"].strip('"').lower()
    assert all(
        k.startswith(("CM_HOST_OS_", "CM_HOST_PLATFORM_", "CM_HOST_PYTHON_", "CM_HOST_SYSTEM_NAME"))
        for k in env
    )


def test_run_detect_cpu_runs_its_dependency() -> None:
    code, out, err = cli("run", "detect,cpu", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["deps"] == ["detect,os,host-facts"]
    assert result["new_env"]["CM_HOST_CPU_TOTAL_LOGICAL_CORES"] == str(os.cpu_count())
    assert not any(k.startswith("CM_HOST_OS_") for k in result["new_env"])


def test_failing_script_exits_2(make_repo: RepoMaker) -> None:
    root = make_repo(
        "failing",
        {"fail": "alias: fail\nuid: 'f000000000000000'\ntags: [fail]\n"},
        files={"fail/run.sh": "echo about to fail\nexit 7\n"},
    )
    cli("repo", "add", str(root))
    code, _, err = cli("run", "fail")
    assert code == 2
    assert "script 'failing:fail' failed in native script run.sh" in err
    assert "exit code 7" in err


def test_console_scripts_are_installed() -> None:
    for name in ("cm-snakemake", "cmsm"):
        exe = shutil.which(name) or str(Path(sys.executable).parent / name)
        done = subprocess.run(
            [exe, "find", "detect,os"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("detect-os")


def test_repo_add_by_python_package(
    make_repo: RepoMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package that ships a CM repository (as cmx4mlops does) is registered by its name."""
    site = tmp_path / "site"
    package = site / "shipped_scripts"
    make_repo(
        "shipped",
        {"hello": "alias: hello\nuid: 'abcdefabcdefabcd'\ntags: [hello]\n"},
        prefix="repo",
    )
    site.mkdir()
    (tmp_path / "shipped").rename(package)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    code, out, err = cli("repo", "add", "--package=shipped_scripts")
    assert code == 0, err
    assert "registered 'shipped'" in out
    assert cli("find", "hello")[1].strip() == str(package.resolve() / "repo" / "script" / "hello")
    code, _, err = cli("repo", "add", "--package=no_such_package_xyz")
    assert code == 1 and "no installed Python package named 'no_such_package_xyz'" in err


def test_plan_prints_the_tree_and_writes_json(make_repo: RepoMaker, tmp_path: Path) -> None:
    root = make_repo(
        "planned",
        {
            "top": "alias: top\nuid: 'a000000000000001'\ntags: [top]\ncache: true\n"
            "input_mapping: {level: CM_LEVEL}\n"
            "deps:\n- tags: detect,os,host-facts\n- tags: leaf\n"
            "  enable_if_env: {CM_HOST_OS_TYPE: [windows]}\n",
            "leaf": "alias: leaf\nuid: 'a000000000000002'\ntags: [leaf]\n",
        },
    )
    cli("repo", "add", str(root))
    out_file = tmp_path / "plan.json"
    code, out, err = cli("plan", "top", "--level=3", f"--out={out_file}")
    assert code == 0, err
    assert out.splitlines()[0].startswith("top  cached")
    assert "deps 'detect,os,host-facts' → detect-os  not cached  from host facts" in out
    assert "leaf" not in out  # decided statically from the facts: not windows
    assert "2 nodes (1 cached), 1 static and 0 run-time dependencies: 100.0% decided" in out
    data = json.loads(out_file.read_text())
    top = next(n for n in data["nodes"] if n["alias"] == "top")
    assert top["const"] == {"CM_LEVEL": "3"}
    code, _, err = cli("plan", "top", "--levle=3")
    assert code == 1 and "--levle (did you mean --level?)" in err


def test_facts_file_round_trip(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    code, out, err = cli("facts", f"--out={facts}")
    assert code == 0, err
    data = json.loads(facts.read_text())
    assert data["scripts"]["detect-os"]["CM_HOST_OS_TYPE"] == sys.platform.rstrip("0123456789")
    code, out, _ = cli("plan", "detect,cpu,host-facts", f"--facts={facts}", "--json")
    plan = json.loads(out)
    assert plan["facts_meta"]["host"] == data["host"]
    assert all(n["facts"] for n in plan["nodes"])
    code, _, err = cli("plan", "detect,cpu", "--facts=/nonexistent.json")
    assert code == 1 and "facts file /nonexistent.json does not exist" in err


def test_plan_network_lists_the_bundled_pipelines_needs(tmp_path: Path) -> None:
    request = "app mlperf inference mlperf-inference-onnx _resnet50 _offline"
    code, out, err = cli("plan", request, "--network", "--no-facts",
                         "--env.CM_ML_MODEL_RESNET50_URL=https://example.org/rn50.onnx",
                         "--env.CM_DATASET_IMAGENET_PATH=/data/imagenet")  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert any(x.startswith("download download-file-verified [") and "https://example.org/rn50.onnx"
               in x for x in lines), out  # fmt: skip
    assert any(x.startswith("pip      get-python-package [") and "onnxruntime" in x
               for x in lines), out  # fmt: skip
    local = tmp_path / "rn50.onnx"
    local.write_bytes(b"onnx")
    code, out, err = cli("plan", request, "--network", "--no-facts", "--json",
                         f"--env.CM_ML_MODEL_RESNET50_LOCAL_PATH={local}",
                         "--env.CM_DATASET_IMAGENET_PATH=/data/imagenet")  # fmt: skip
    assert code == 0, err
    needs = json.loads(out)["network"]
    assert {n["kind"] for n in needs} == {"pip"}, needs  # a local model file: no download


def test_plan_network_names_git_clones_and_skips_local_ones(make_repo: RepoMaker) -> None:
    root = make_repo(
        "fetching",
        {
            "app": "alias: app\nuid: 'b000000000000001'\ntags: [app]\n"
            "deps:\n- tags: get,git,repo,_remote\n- tags: get,git,repo,_local\n",
            "get-git-repo": "alias: get-git-repo\nuid: 'b000000000000002'\ntags: [get, git, repo]\n"
            "variations:\n  remote: {env: {CM_GIT_URL: 'https://example.org/src.git', "
            "CM_GIT_CHECKOUT: v5.0.1}}\n  local: {env: {CM_GIT_URL: /srv/src.git}}\n",
        },
    )
    cli("repo", "add", str(root))
    code, out, err = cli("plan", "app", "--network", "--no-facts")
    assert code == 0, err
    lines = out.splitlines()
    assert [x.split("]  ", 1)[1] for x in lines if x.startswith("git ")] == [
        "https://example.org/src.git  v5.0.1"]  # fmt: skip
    assert lines[-1] == "1 network needs (0 decided at run time)"
