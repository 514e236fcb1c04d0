"""Script repositories: recognising CM and MLC repositories and the registry of them.

A CM repository has ``cmr.yaml`` (or ``cmr.json``) at its root with ``alias``, ``uid`` and an
optional ``prefix``; its scripts live in ``<prefix>/script/<name>/``. An MLC repository has
``meta.yaml`` at its root and scripts in ``script/<name>/meta.yaml``.

The registry is ``$CMSM_HOME/repos.json``, a list of absolute paths. The repository bundled
with this package is always registered first and cannot be removed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MetaError, RepoError, Where
from .meta import Dialect
from .metafile import KeyedDict, load_json_file, load_yaml_file

__all__ = [
    "BUNDLED_REPO_PATH",
    "Registry",
    "Repository",
    "cmsm_home",
    "open_repository",
]

BUNDLED_REPO_PATH = Path(__file__).resolve().parent / "repo"


def cmsm_home() -> Path:
    """Return the home folder: ``$CMSM_HOME`` or ``~/.cm-snakemake``."""
    env = os.environ.get("CMSM_HOME")
    return Path(env).expanduser().resolve() if env else Path.home() / ".cm-snakemake"


@dataclass(frozen=True, slots=True)
class Repository:
    """A registered script repository."""

    alias: str
    uid: str
    root: Path
    dialect: Dialect
    prefix: str = ""
    bundled: bool = False

    @property
    def scripts_dir(self) -> Path:
        return self.root / self.prefix / "script" if self.prefix else self.root / "script"

    def to_json(self) -> dict[str, str]:
        return {"alias": self.alias, "uid": self.uid, "path": str(self.root)}


def _read_repo_meta(path: Path) -> KeyedDict:
    data, _ = load_json_file(path) if path.suffix == ".json" else load_yaml_file(path)
    if not isinstance(data, KeyedDict):
        raise MetaError(Where(str(path)), "a repository meta file must hold a mapping")
    return data


def _repo_meta_file(root: Path) -> tuple[Path, Dialect] | None:
    for name, dialect in (("cmr.yaml", Dialect.CM), ("cmr.json", Dialect.CM),
                          ("meta.yaml", Dialect.MLC)):  # fmt: skip
        if (root / name).is_file():
            return root / name, dialect
    return None


def open_repository(root: Path, *, bundled: bool = False) -> Repository:
    """Recognise the repository at ``root`` (CM: ``cmr.yaml``/``cmr.json``; MLC: ``meta.yaml``)."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise RepoError(f"{root}: no such directory", hint="Check the path and try again.")
    found = _repo_meta_file(root)
    if found is None:
        raise RepoError(
            f"{root} is not a script repository: it has no cmr.yaml, cmr.json or meta.yaml",
            hint="Point at the repository root (the folder that holds cmr.yaml); for a "
            "Python package that ships one, use 'cm-snakemake repo add --package NAME'.",
        )
    meta_path, dialect = found
    meta = _read_repo_meta(meta_path)
    if meta_path.name == "cmr.yaml" and (root / "cmr.json").is_file():
        meta.update(_read_repo_meta(root / "cmr.json"))
    alias = meta.get("alias")
    if not alias:
        raise MetaError(meta.where(), "the repository has no 'alias'", key="alias")
    prefix = str(meta.get("prefix") or "").strip("/")
    repo = Repository(
        alias=str(alias),
        uid=str(meta.get("uid") or ""),
        root=root,
        dialect=dialect,
        prefix=prefix,
        bundled=bundled,
    )
    if not repo.scripts_dir.is_dir():
        raise RepoError(
            f"repository '{repo.alias}' at {root} has no script folder {repo.scripts_dir}",
            hint="Scripts must live in <repository>/<prefix>/script/<name>/.",
        )
    return repo


def package_path(name: str) -> Path:
    """Return the folder of the installed Python package ``name``."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise RepoError(
            f"no installed Python package named '{name}'",
            hint=f"Install it first (for example 'pip install {name}') or give its path.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


class Registry:
    """The registered repositories, stored as ``repos.json`` in the home folder."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or cmsm_home()
        self.file = self.home / "repos.json"

    def _stored_paths(self) -> list[str]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, json.JSONDecodeError) as exc:
            raise RepoError(
                f"{self.file}: cannot read the repository list ({exc})",
                hint="Fix or delete the file, then register your repositories again.",
            ) from None
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise RepoError(f"{self.file}: must be a JSON list of paths")
        return data

    def _save(self, paths: list[str]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".repos.json.{os.getpid()}")
        tmp.write_text(json.dumps(paths, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.file)

    def repositories(self) -> list[Repository]:
        """Return the bundled repository, then the registered ones, in registration order.

        A registered repository that vanished or broke raises :class:`RepoError`, naming it and
        how to remove it: silently searching fewer scripts would change results.
        """
        repos = [open_repository(BUNDLED_REPO_PATH, bundled=True)]
        for path in self._stored_paths():
            try:
                repos.append(open_repository(Path(path)))
            except RepoError as exc:
                raise RepoError(
                    f"registered repository {path} cannot be used: {exc.message}",
                    hint=f"Remove it with 'cm-snakemake repo rm {path}' or restore it.",
                ) from None
        return repos

    def add(self, path: Path) -> Repository:
        """Register the repository at ``path``; return it."""
        repo = open_repository(path)
        paths = self._stored_paths()
        for other in self.repositories():
            if other.root == repo.root:
                raise RepoError(f"{repo.root} is already registered as '{other.alias}'")
            if other.alias == repo.alias:
                raise RepoError(
                    f"another repository with alias '{repo.alias}' is registered: {other.root}",
                    hint=f"Remove it first with 'cm-snakemake repo rm {other.alias}'.",
                )
        self._save([*paths, str(repo.root)])
        return repo

    def remove(self, name: str) -> str:
        """Unregister the repository with alias or path ``name``; return its path."""
        paths = self._stored_paths()
        wanted = str(Path(name).expanduser().resolve()) if os.sep in name else None
        for path in paths:
            alias = None
            try:
                alias = open_repository(Path(path)).alias
            except (RepoError, MetaError):
                pass
            if path == wanted or alias == name or path == name:
                self._save([p for p in paths if p != path])
                return path
        if name == open_repository(BUNDLED_REPO_PATH).alias:
            raise RepoError("the bundled repository is always registered and cannot be removed")
        raise RepoError(
            f"no registered repository '{name}'",
            hint="Run 'cm-snakemake repo list' to see the registered repositories.",
        )
