"""Script repositories: recognising CM and MLC repositories and the registry of them.

A CM repository has ``cmr.yaml`` (or ``cmr.json``) at its root with ``alias``, ``uid`` and an
optional ``prefix``; its scripts live in ``<prefix>/script/<name>/``. An MLC repository has
``meta.yaml`` at its root and scripts in ``script/<name>/meta.yaml``.

The registry is ``$CMSM_HOME/repos.json``, a JSON list of absolute paths. The repository
bundled with this package is always registered first and cannot be removed. What the list
and each repository's meta file say is also kept in a snapshot with the files' signatures,
so a warm start parses neither JSON nor YAML.
"""

from __future__ import annotations

import os

from ._record import Record
from ._snapshot import file_signature, load_snapshot, save_snapshot
from .dialect import Dialect
from .errors import MetaError, RepoError, Where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .metafile import KeyedDict

__all__ = [
    "BUNDLED_REPO_PATH",
    "Registry",
    "Repository",
    "cmsm_home",
    "open_repository",
    "package_path",
]

BUNDLED_REPO_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "repo")
_REPO_META_FILES = (("cmr.yaml", Dialect.CM), ("cmr.json", Dialect.CM), ("meta.yaml", Dialect.MLC))
_SNAPSHOT_TAG = "cm-snakemake registry 1"


def cmsm_home() -> str:
    """Return the home folder: ``$CMSM_HOME`` or ``~/.cm-snakemake``."""
    env = os.environ.get("CMSM_HOME")
    return _absolute(env) if env else os.path.join(os.path.expanduser("~"), ".cm-snakemake")


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


class Repository(Record):
    """A registered script repository (``root`` is an absolute path)."""

    __slots__ = ("alias", "bundled", "dialect", "prefix", "root", "uid")

    def __init__(
        self,
        alias: str,
        uid: str,
        root: str,
        dialect: Dialect,
        prefix: str = "",
        bundled: bool = False,
    ) -> None:
        self.alias = alias
        self.uid = uid
        self.root = root
        self.dialect = dialect
        self.prefix = prefix
        self.bundled = bundled

    @property
    def scripts_dir(self) -> str:
        return os.path.join(self.root, self.prefix, "script")

    def to_json(self) -> dict[str, str | bool]:
        return {"alias": self.alias, "uid": self.uid, "path": self.root,
                "dialect": self.dialect.value, "bundled": self.bundled}  # fmt: skip


def _read_repo_meta(path: str) -> KeyedDict:
    from pathlib import Path

    from .metafile import KeyedDict, load_json_file, load_yaml_file

    file = Path(path)
    data, _ = load_json_file(file) if path.endswith(".json") else load_yaml_file(file)
    if not isinstance(data, KeyedDict):
        raise MetaError(Where(path), "a repository meta file must hold a mapping")
    return data


def open_repository(root: str | os.PathLike[str], *, bundled: bool = False) -> Repository:
    """Recognise the repository at ``root`` (CM: ``cmr.yaml``/``cmr.json``; MLC: ``meta.yaml``)."""
    root = _absolute(root)
    if not os.path.isdir(root):
        raise RepoError(f"{root}: no such directory", hint="Check the path and try again.")
    found = [(name, d) for name, d in _REPO_META_FILES if os.path.isfile(os.path.join(root, name))]
    if not found:
        raise RepoError(
            f"{root} is not a script repository: it has no cmr.yaml, cmr.json or meta.yaml",
            hint="Point at the repository root (the folder that holds cmr.yaml); for a "
            "Python package that ships one, use 'cm-snakemake repo add --package=NAME'.",
        )
    name, dialect = found[0]
    meta = _read_repo_meta(os.path.join(root, name))
    if name == "cmr.yaml" and os.path.isfile(os.path.join(root, "cmr.json")):
        meta.update(_read_repo_meta(os.path.join(root, "cmr.json")))
    alias = meta.get("alias")
    if not alias:
        raise MetaError(meta.where(), "the repository has no 'alias'", key="alias")
    repo = Repository(
        alias=str(alias),
        uid=str(meta.get("uid") or ""),
        root=root,
        dialect=dialect,
        prefix=str(meta.get("prefix") or "").strip("/"),
        bundled=bundled,
    )
    if not os.path.isdir(repo.scripts_dir):
        raise RepoError(
            f"repository '{repo.alias}' at {root} has no script folder {repo.scripts_dir}",
            hint="Scripts must live in <repository>/<prefix>/script/<name>/.",
        )
    return repo


def package_path(name: str) -> str:
    """Return the folder of the installed Python package ``name``."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise RepoError(
            f"no installed Python package named '{name}'",
            hint=f"Install it first (for example 'pip install {name}') or give its path.",
        )
    return str(next(iter(spec.submodule_search_locations)))


class Registry:
    """The registered repositories, stored as ``repos.json`` in the home folder."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = _absolute(home) if home is not None else cmsm_home()
        self.file = os.path.join(self.home, "repos.json")
        self.index_dir = os.path.join(self.home, "index")
        self._snapshot_file = os.path.join(self.index_dir, "registry.marshal")

    # -- the list of paths -------------------------------------------------------------------

    def _stored_paths(self) -> list[str]:
        import json

        try:
            with open(self.file, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RepoError(
                f"{self.file}: cannot read the repository list ({exc})",
                hint="Fix or delete the file, then register your repositories again.",
            ) from None
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise RepoError(f"{self.file}: must be a JSON list of paths")
        return data

    def _save(self, paths: list[str]) -> None:
        import json

        os.makedirs(self.home, exist_ok=True)
        tmp = f"{self.file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(paths, indent=1) + "\n")
        os.replace(tmp, self.file)

    # -- opening -----------------------------------------------------------------------------

    def repositories(self) -> list[Repository]:
        """Return the bundled repository, then the registered ones, in registration order.

        A registered repository that vanished or broke raises :class:`RepoError`, naming it and
        how to remove it: silently searching fewer scripts would change results.
        """
        snap = load_snapshot(self._snapshot_file, _SNAPSHOT_TAG)
        old: dict[str, object] = snap if isinstance(snap, dict) else {}
        list_sig = file_signature(self.home, ("repos.json",))
        paths = old.get("paths") if old.get("list_sig") == list_sig else None
        if not isinstance(paths, list):
            paths = self._stored_paths()
        known = old.get("repos")
        if not isinstance(known, dict):
            known = {}
        seen: dict[str, object] = {}
        repos = [self._open(BUNDLED_REPO_PATH, known, seen, bundled=True)]
        for path in paths:
            try:
                repos.append(self._open(path, known, seen))
            except (RepoError, MetaError) as exc:
                raise RepoError(
                    f"registered repository {path} cannot be used: {exc.message}",
                    hint=f"Remove it with 'cm-snakemake repo rm {path}' or restore it.",
                ) from None
        new = {"list_sig": list_sig, "paths": paths, "repos": seen}
        if new != old:
            save_snapshot(self._snapshot_file, _SNAPSHOT_TAG, new)
        return repos

    @staticmethod
    def _open(
        root: str, known: dict[str, object], seen: dict[str, object], *, bundled: bool = False
    ) -> Repository:
        sig = file_signature(root, [name for name, _ in _REPO_META_FILES])
        row = known.get(root)
        if sig and isinstance(row, tuple) and row[0] == sig:
            _, alias, uid, dialect, prefix = row
            repo = Repository(alias, uid, root, Dialect(dialect), prefix, bundled)
            if os.path.isdir(repo.scripts_dir):
                seen[root] = row
                return repo
        repo = open_repository(root, bundled=bundled)
        seen[root] = (sig, repo.alias, repo.uid, str(repo.dialect), repo.prefix)
        return repo

    # -- changing ----------------------------------------------------------------------------

    def add(self, path: str | os.PathLike[str]) -> Repository:
        """Register the repository at ``path``; return it."""
        repo = open_repository(path)
        for other in self.repositories():
            if other.root == repo.root:
                raise RepoError(f"{repo.root} is already registered as '{other.alias}'")
            if other.alias == repo.alias:
                raise RepoError(
                    f"another repository with alias '{repo.alias}' is registered: {other.root}",
                    hint=f"Remove it first with 'cm-snakemake repo rm {other.alias}'.",
                )
        self._save([*self._stored_paths(), repo.root])
        return repo

    def remove(self, name: str) -> str:
        """Unregister the repository with alias or path ``name``; return its path."""
        paths = self._stored_paths()
        wanted = _absolute(name) if os.sep in name else None
        for path in paths:
            alias = None
            try:
                alias = open_repository(path).alias
            except (RepoError, MetaError):
                pass
            if path in (wanted, name) or alias == name:
                self._save([p for p in paths if p != path])
                return path
        if name == open_repository(BUNDLED_REPO_PATH).alias:
            raise RepoError("the bundled repository is always registered and cannot be removed")
        raise RepoError(
            f"no registered repository '{name}'",
            hint="Run 'cm-snakemake repo list' to see the registered repositories.",
        )
