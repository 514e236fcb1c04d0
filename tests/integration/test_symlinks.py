"""Links in a script repository are followed only while they stay inside it.

A hostile repository links a script folder, a meta file, ``customize.py`` or ``run.sh`` to a
file outside it; such links are not read, imported or run unless the repository is registered
with ``--allow-external-links`` or ``CMSM_ALLOW_EXTERNAL_LINKS=1`` is set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

META = "alias: {0}\nuid: '{1}'\ntags: [{0}]\nautomation_alias: script\n"
EXPORTS = "new_env_keys: [CM_FROM_*]\n"


def _meta(alias: str, uid: int, extra: str = "") -> str:
    return META.format(alias, f"{uid:016x}") + extra


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every repository, with files a hostile repository links to."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def _assert_refusal(text: str, link: Path, target: Path, root: Path) -> None:
    """The message names the link, its real target, the repository and how to allow it."""
    assert f"{link} is a link to {target.resolve()}, outside the repository {root}" in text
    assert f"cm-snakemake repo add {root} --allow-external-links" in text
    assert "CMSM_ALLOW_EXTERNAL_LINKS=1" in text


def test_a_script_folder_linking_outside_is_not_indexed(
    make_repo: RepoMaker, outside: Path
) -> None:
    secrets = outside / "secrets"
    secrets.mkdir()
    (secrets / "_cm.yaml").write_text(_meta("secret", 0xC1))
    root = make_repo("folders", {"plain": _meta("plain", 0xC2)})
    link = root / "script" / "secret"
    link.symlink_to(secrets, target_is_directory=True)

    code, out, err = cli("repo", "add", str(root))
    assert code == 0, err
    assert "1 scripts, 1 unreadable" in out
    assert "links in it that lead outside it are not followed" in out

    code, out, err = cli("find", "--tags=secret")
    assert code == 1 and out == ""
    assert "no script found for 'secret'" in err
    _assert_refusal(err, link, secrets, root)  # the warning of every command names it
    code, out, err = cli("find", "secret")  # by its name: the refusal is the error
    assert code == 1 and out == ""
    assert f"cm-snakemake error: {link}: script 'secret' cannot be read" in err
    assert cli("find", "plain")[0] == 0  # the rest of the repository is usable

    code, out, _ = cli("repo", "check", "folders")
    assert code == 1
    _assert_refusal(out, link, secrets, root)

    code, out, err = cli("repo", "add", str(root), "--allow-external-links")
    assert code == 0, err
    assert "links in it are followed even where they lead outside it" in out
    code, out, err = cli("find", "secret")
    assert code == 0, err
    assert out.strip() == str(link)
    assert "(external links allowed)" in cli("repo", "list")[1]


def test_an_outside_meta_file_link_is_refused(make_repo: RepoMaker, outside: Path) -> None:
    (outside / "_cm.yaml").write_text(_meta("leak", 0xC3))
    root = make_repo("metas", {"plain": _meta("plain", 0xC4)})
    folder = root / "script" / "leak"
    folder.mkdir()
    (folder / "_cm.yaml").symlink_to(outside / "_cm.yaml")
    assert cli("repo", "add", str(root))[0] == 0

    code, _, err = cli("find", "--tags=leak")
    assert code == 1 and "no script found for 'leak'" in err
    _assert_refusal(err, folder / "_cm.yaml", outside / "_cm.yaml", root)
    code, out, _ = cli("repo", "check", "metas")
    assert code == 1 and "1 unreadable" in out
    _assert_refusal(out, folder / "_cm.yaml", outside / "_cm.yaml", root)


def test_an_outside_customize_py_link_is_never_imported(
    make_repo: RepoMaker, outside: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "customize-imported"
    hook = (
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n\n"
        "def preprocess(i):\n    i['env']['CM_FROM_HOOK'] = 'hook'\n"
        "    return {'return': 0}\n"
    )
    (outside / "customize.py").write_text(hook)
    root = make_repo("hooks", {"hooked": _meta("hooked", 0xC5, EXPORTS)})
    link = root / "script" / "hooked" / "customize.py"
    link.symlink_to(outside / "customize.py")
    assert cli("repo", "add", str(root))[0] == 0

    code, out, _ = cli("repo", "check", "hooks")
    assert code == 0 and "1 warnings" in out  # named before anything runs
    _assert_refusal(out, link, outside / "customize.py", root)

    code, _, err = cli("run", "hooked")
    assert code == 1
    assert "script 'hooks:hooked': " in err
    _assert_refusal(err, link, outside / "customize.py", root)
    assert not marker.exists()

    monkeypatch.setenv("CMSM_ALLOW_EXTERNAL_LINKS", "1")
    code, out, err = cli("run", "hooked", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"] == {"CM_FROM_HOOK": "hook"}
    assert marker.read_text() == "imported"


def test_an_outside_run_sh_link_is_never_run(
    make_repo: RepoMaker, outside: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "run-sh-ran"
    (outside / "run.sh").write_text(f"touch {marker}\necho CM_FROM_RUN=ran >> tmp-run-env.out\n")
    root = make_repo("natives", {"native": _meta("native", 0xC6, EXPORTS)})
    link = root / "script" / "native" / "run.sh"
    link.symlink_to(outside / "run.sh")
    assert cli("repo", "add", str(root))[0] == 0

    code, _, err = cli("run", "native")
    assert code == 1
    assert "script 'native': " in err
    _assert_refusal(err, link, outside / "run.sh", root)
    assert not marker.exists()

    assert cli("repo", "add", str(root), "--allow-external-links")[0] == 0
    code, out, err = cli("run", "native", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"]["CM_FROM_RUN"] == "ran"
    assert marker.exists()


def test_a_native_script_run_by_a_hook_is_checked_too(
    make_repo: RepoMaker, outside: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "install-ran"
    (outside / "install.sh").write_text(f"touch {marker}\n")
    hook = (
        "def preprocess(i):\n"
        "    return i['automation'].run_native_script({'env': i['env'], "
        "'run_script_input': i['run_script_input'], 'script_name': 'install'})\n"
    )
    root = make_repo(
        "installs", {"installer": _meta("installer", 0xC7)}, files={"installer/customize.py": hook}
    )
    link = root / "script" / "installer" / "install.sh"
    link.symlink_to(outside / "install.sh")
    assert cli("repo", "add", str(root))[0] == 0

    code, _, err = cli("run", "installer")
    assert code == 1
    _assert_refusal(err, link, outside / "install.sh", root)
    assert not marker.exists()


def test_links_inside_the_repository_are_followed(make_repo: RepoMaker) -> None:
    hook = "def preprocess(i):\n    i['env']['CM_FROM_HOOK'] = 'hook'\n    return {'return': 0}\n"
    root = make_repo("inside", {}, files={})
    shared = root / "shared"
    (shared / "place").mkdir(parents=True)
    (shared / "customize.py").write_text(hook)
    (shared / "run.sh").write_text("echo CM_FROM_RUN=$CM_FROM_HOOK-run >> tmp-run-env.out\n")
    (shared / "linked.yaml").write_text(_meta("linked", 0xC8, EXPORTS))
    (shared / "place" / "_cm.yaml").write_text(_meta("placed", 0xC9))
    folder = root / "script" / "linked"
    folder.mkdir()
    for name, target in (
        ("_cm.yaml", "linked.yaml"),
        ("customize.py", "customize.py"),
        ("run.sh", "run.sh"),
    ):
        (folder / name).symlink_to(Path("..", "..", "shared", target))
    (root / "script" / "placed").symlink_to(Path("..", "shared", "place"))

    code, out, err = cli("repo", "add", str(root))
    assert code == 0, err
    assert "2 scripts, 0 unreadable, 0 warnings" in out
    code, out, err = cli("run", "linked", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"] == {"CM_FROM_HOOK": "hook", "CM_FROM_RUN": "hook-run"}
    code, out, err = cli("find", "placed")
    assert code == 0, err
    assert out.strip() == str(root / "script" / "placed")
    assert cli("repo", "check", "inside")[0] == 0


def test_editing_the_target_of_an_inside_link_changes_the_cache_key(make_repo: RepoMaker) -> None:
    root = make_repo("keyed", {"keyed": _meta("keyed", 0xCF, EXPORTS + "cache: true\n")})
    (root / "shared").mkdir()
    target = root / "shared" / "run.sh"
    target.write_text("echo CM_FROM_RUN=first >> tmp-run-env.out\n")
    (root / "script" / "keyed" / "run.sh").symlink_to(Path("..", "..", "shared", "run.sh"))
    assert cli("repo", "add", str(root))[0] == 0
    code, out, err = cli("run", "keyed", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"]["CM_FROM_RUN"] == "first"
    target.write_text("echo CM_FROM_RUN=second >> tmp-run-env.out\n")
    code, out, err = cli("run", "keyed", "--json")
    assert code == 0, err
    assert json.loads(out)["new_env"]["CM_FROM_RUN"] == "second"  # not the old entry


def test_a_nested_link_to_the_root_folder_is_named_and_not_entered(make_repo: RepoMaker) -> None:
    root = make_repo(
        "nested",
        {"deep": _meta("deep", 0xCA)},
        files={"deep/run.sh": "echo CM_X=1 >> tmp-run-env.out\n"},
    )
    link = root / "script" / "deep" / "everything"
    link.symlink_to("/", target_is_directory=True)
    assert cli("repo", "add", str(root))[0] == 0
    code, out, _ = cli("repo", "check", "nested")
    assert code == 0
    _assert_refusal(out, link, Path("/"), root)
    code, _, err = cli("plan", "deep")  # scanning the script's files does not walk into /
    assert code == 0, err


def test_a_script_folder_or_repository_meta_linking_outside_refuses_the_repository(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "whole"
    root.mkdir()
    (outside / "cmr.yaml").write_text("alias: whole\nuid: 00000000000000cb\n")
    (outside / "script").mkdir()
    (root / "cmr.yaml").symlink_to(outside / "cmr.yaml")
    (root / "script").symlink_to(outside / "script", target_is_directory=True)

    code, _, err = cli("repo", "add", str(root))
    assert code == 1
    _assert_refusal(err, root / "cmr.yaml", outside / "cmr.yaml", root)
    assert "whole" not in cli("repo", "list")[1]

    (root / "cmr.yaml").unlink()
    (root / "cmr.yaml").write_text("alias: whole\nuid: 00000000000000cb\n")
    code, _, err = cli("repo", "add", str(root))
    assert code == 1
    _assert_refusal(err, root / "script", outside / "script", root)
    code, _, err = cli("repo", "add", str(root), "--allow-external-links")
    assert code == 0, err


def test_the_environment_variable_allows_links_everywhere_and_a_warm_index_follows_it(
    make_repo: RepoMaker, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (outside / "_cm.yaml").write_text(_meta("envy", 0xCC))
    root = make_repo("environ", {})
    folder = root / "script" / "envy"
    folder.mkdir()
    (folder / "_cm.yaml").symlink_to(outside / "_cm.yaml")
    assert cli("repo", "add", str(root))[0] == 0
    assert cli("find", "envy")[0] == 1

    monkeypatch.setenv("CMSM_ALLOW_EXTERNAL_LINKS", "1")
    code, out, err = cli("find", "envy")
    assert code == 0, err
    assert out.strip() == str(folder)

    monkeypatch.delenv("CMSM_ALLOW_EXTERNAL_LINKS")  # the index read with it is not reused
    code, _, err = cli("find", "envy")
    assert code == 1
    _assert_refusal(err, folder / "_cm.yaml", outside / "_cm.yaml", root)


def test_old_registry_files_stay_readable_and_the_setting_is_recorded(
    make_repo: RepoMaker, home: Path
) -> None:
    old = make_repo("old", {"one": _meta("one", 0xCD)})
    new = make_repo("new", {"two": _meta("two", 0xCE)})
    home.mkdir(parents=True, exist_ok=True)
    (home / "repos.json").write_text(json.dumps([str(old.resolve())]))
    assert cli("find", "one")[0] == 0

    assert cli("repo", "add", str(new), "--allow-external-links")[0] == 0
    stored = json.loads((home / "repos.json").read_text())
    assert stored == [
        str(old.resolve()),
        {"path": str(new.resolve()), "allow_external_links": True},
    ]
    rows = json.loads(cli("repo", "list", "--json")[1])
    assert [(r["alias"], r["allow_external_links"]) for r in rows] == [
        ("cm-snakemake", False),
        ("old", False),
        ("new", True),
    ]
    assert cli("repo", "rm", "old")[0] == 0
    assert json.loads((home / "repos.json").read_text()) == [stored[1]]
    assert cli("find", "two")[0] == 0


def test_the_bundled_repository_has_no_link_leaving_it() -> None:
    bundled = Path(__file__).resolve().parents[2] / "cm_snakemake" / "repo"
    for folder, dirs, files in os.walk(bundled):
        for name in dirs + files:
            path = Path(folder, name)
            if path.is_symlink():
                assert path.resolve().is_relative_to(bundled.resolve()), path
    code, out, _ = cli("repo", "check")
    assert code == 0 and "is a link to" not in out
