"""A script whose native script is missing gets one precise message: the script, the files
looked for, the folder and what to do. Scripts with no native script at all still run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..conftest import RepoMaker, cli

ECHO = 'echo "CM_SEEN=ran" >> tmp-run-env.out\n'


def meta(alias: str, extra: str = "") -> str:
    return (
        f"alias: {alias}\nuid: '{abs(hash(alias)) % 16**16:016x}'\ntags: [{alias}]\n"
        f"automation_alias: script\nnew_env_keys: [CM_SEEN]\n{extra}"
    )


def add(
    make_repo: RepoMaker, alias: str, extra: str = "", files: dict[str, str] | None = None
) -> Path:
    """Register a repository ``missing`` with one script; return the script's folder."""
    root = make_repo("missing", {alias: meta(alias, extra)}, files=files)
    assert cli("repo", "add", str(root))[0] == 0
    return root / "script" / alias


def test_a_script_name_with_no_file(make_repo: RepoMaker) -> None:
    folder = add(
        make_repo,
        "named",
        "script_name: install\n",
        {"named/run.sh": ECHO, "named/install-old.sh": ECHO},
    )
    code, _, err = cli("run", "named")
    assert code == 2
    assert (
        f"script 'missing:named' failed in native script: no native script 'install' in "
        f"{folder}: looked for install.sh; it has install-old.sh, run.sh"
    ) in err
    assert (
        "Add install.sh to the folder, or make script_name (in the meta, a variation or "
        "customize.py) name a script the folder has." in err
    )


def test_a_script_name_from_a_variation_with_no_file(make_repo: RepoMaker) -> None:
    folder = add(
        make_repo,
        "varied",
        "variations:\n  fast:\n    script_name: run-fast\n",
        {"varied/run.sh": ECHO},
    )
    code, out, err = cli("run", "varied", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"]["CM_SEEN"] == "ran"  # without the variation: run.sh
    code, _, err = cli("run", "varied,_fast")
    assert code == 2
    assert (
        f"script 'missing:varied _fast' failed in native script: no native script "
        f"'run-fast' in {folder}: looked for run-fast.sh; it has run.sh"
    ) in err
    assert "Add run-fast.sh to the folder" in err


def test_scripts_for_other_systems_only(make_repo: RepoMaker) -> None:
    folder = add(make_repo, "macos", files={"macos/run-macos.sh": ECHO})
    code, out, err = cli("run", "macos", "--json")
    assert code == 0, err  # as in CM: no native script runs
    assert "CM_SEEN" not in json.loads(out)["new_env"]
    assert (
        f"warning: script 'missing:macos': no native script for this host in {folder}: "
        "looked for run.sh; it has run-macos.sh, so none runs, as in CM "
        "(CM_HOST_OS_FLAVOR is not set: add detect-os to the deps to choose by OS)"
    ) in err
    assert "Add run.sh (or run-<flavor>.sh) to the folder if the script needs one here." in err
    code, _, err = cli("run", "macos", "--env.CM_HOST_OS_FLAVOR=debian")
    assert code == 0, err
    assert (
        "looked for run-debian.sh, run.sh; it has run-macos.sh, so none runs, as in CM "
        "(this host's OS flavor is 'debian')"
    ) in err


def test_windows_scripts_only_and_no_native_script_are_meta_only(make_repo: RepoMaker) -> None:
    root = make_repo(
        "missing",
        {"winonly": meta("winonly"), "metaonly": meta("metaonly")},
        files={"winonly/run.bat": "echo CM_SEEN=ran > tmp-run-env.out\n"},
    )
    assert cli("repo", "add", str(root))[0] == 0
    for alias in ("winonly", "metaonly"):
        code, out, err = cli("run", alias, "--json")
        assert code == 0, err
        assert json.loads(out)["new_env"] == {}
        assert "native script" not in err and "warning" not in err


def test_a_dangling_link_or_a_folder_in_place_of_run_sh(make_repo: RepoMaker) -> None:
    folder = add(make_repo, "broken")
    (folder / "run.sh").symlink_to("gone.sh")
    code, _, err = cli("run", "broken")
    assert code == 2
    assert (
        f"script 'missing:broken' failed in native script: run.sh in {folder} is a link to "
        "'gone.sh', which does not exist"
    ) in err
    assert f"Make {folder / 'run.sh'} the script itself, or a link to one that exists." in err
    (folder / "run.sh").unlink()
    (folder / "run.sh").mkdir()
    code, _, err = cli("run", "broken")
    assert code == 2
    assert f"native script: run.sh in {folder} is a folder, not a file" in err


def test_a_script_that_is_not_executable_runs(make_repo: RepoMaker) -> None:
    folder = add(make_repo, "plain", files={"plain/run.sh": ECHO})
    (folder / "run.sh").chmod(0o644)
    assert not os.access(folder / "run.sh", os.X_OK)
    code, out, err = cli("run", "plain", "--json")
    assert code == 0, err  # bash reads it; it need not be executable
    assert json.loads(out)["new_env"]["CM_SEEN"] == "ran"
