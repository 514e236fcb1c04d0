"""Repositories: both dialects, registration, the bundled repository, packages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cm_snakemake.errors import RepoError
from cm_snakemake.index.repos import BUNDLED_REPO_PATH, Registry, open_repository, package_path
from cm_snakemake.meta.model import Dialect

from ..conftest import DATA, RepoMaker


def test_cm_repository_with_prefix(make_repo: RepoMaker) -> None:
    root = make_repo("pre", {"s": "alias: s\nuid: '1'\ntags: [t]\n"}, prefix="repo")
    repo = open_repository(root)
    assert repo.dialect is Dialect.CM
    assert repo.scripts_dir == str(root.resolve() / "repo" / "script")


def test_mlc_repository() -> None:
    repo = open_repository(DATA / "mlc-repo")
    assert repo.dialect is Dialect.MLC
    assert repo.alias == "tests@mlc-demo"


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match=r"no cmr\.yaml, cmr\.json or meta\.yaml"):
        open_repository(tmp_path)
    with pytest.raises(RepoError, match="no such directory"):
        open_repository(tmp_path / "missing")


def test_registry_add_list_remove(home: Path, make_repo: RepoMaker) -> None:
    registry = Registry()
    root = make_repo("mine", {"s": "alias: s\nuid: '1'\ntags: [t]\n"})
    registry.add(root)
    assert json.loads((home / "repos.json").read_text()) == [str(root.resolve())]
    repos = registry.repositories()
    assert [r.alias for r in repos] == ["cm-snakemake", "mine"]
    assert repos[0].bundled
    assert repos[0].root == BUNDLED_REPO_PATH
    with pytest.raises(RepoError, match="already registered"):
        registry.add(root)
    assert registry.remove("mine") == str(root.resolve())
    assert [r.alias for r in registry.repositories()] == ["cm-snakemake"]
    with pytest.raises(RepoError, match="no registered repository"):
        registry.remove("mine")
    with pytest.raises(RepoError, match="always registered"):
        registry.remove("cm-snakemake")


def test_duplicate_alias_is_refused(make_repo: RepoMaker, tmp_path: Path) -> None:
    registry = Registry()
    registry.add(make_repo("same", {"s": "alias: s\nuid: '1'\ntags: [t]\n"}))
    other = tmp_path / "other"
    make_repo("same2", {})
    (tmp_path / "same2").rename(other)
    (other / "cmr.yaml").write_text("alias: same\nuid: '2'\n")
    with pytest.raises(RepoError, match="another repository with alias 'same'"):
        registry.add(other)


def test_a_vanished_repository_is_reported(make_repo: RepoMaker) -> None:
    root = make_repo("gone", {})
    registry = Registry()
    registry.add(root)
    (root / "cmr.yaml").unlink()
    with pytest.raises(RepoError) as info:
        registry.repositories()
    assert "cm-snakemake repo rm" in info.value.render()


def test_package_path() -> None:
    assert package_path("json") == str(Path(sys.modules["json"].__file__ or "").parent)
    with pytest.raises(RepoError, match="no installed Python package"):
        package_path("surely_not_installed_pkg_xyz")
