"""Script repositories: recognising CM and MLC repositories and the registry of them.

A CM repository has ``cmr.yaml`` (or ``cmr.json``) at its root with ``alias``, ``uid`` and an
optional ``prefix``; its scripts live in ``<prefix>/script/<name>/``. An MLC repository has
``meta.yaml`` at its root and scripts in ``script/<name>/meta.yaml``.

The registry is ``$CMSM_HOME/repos.json``, a JSON list of absolute paths; a repository
registered with ``--allow-external-links`` is listed as ``{"path": ..., "allow_external_links":
true}`` instead (see :mod:`cm_snakemake.index.links`). The repository bundled with this package is
always registered first and cannot be removed. What the list and each repository's meta file
say is also kept in a snapshot with the files' signatures, so a warm start parses neither JSON
nor YAML.
"""

from __future__ import annotations

import os

from .._util.record import Record
from .._util.settings import settings
from .._util.snapshot import file_signature, load_snapshot, save_snapshot
from ..errors import ExternalLinkRefused, MetaError, RepoError, Where
from ..meta.dialect import Dialect
from . import links

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..meta.metafile import KeyedDict

__all__ = [
    "BUNDLED_REPO_PATH",
    "Registry",
    "Repository",
    "cmsm_home",
    "open_repository",
    "package_path",
]

BUNDLED_REPO_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "repo"
)
_REPO_META_FILES = (("cmr.yaml", Dialect.CM), ("cmr.json", Dialect.CM), ("meta.yaml", Dialect.MLC))
_SNAPSHOT_TAG = "cm-snakemake registry 2"


def cmsm_home() -> str:
    """Return the home folder: ``$CMSM_HOME`` or ``~/.cm-snakemake``."""
    return settings.home


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


class Repository(Record):
    """A registered script repository (``root`` is an absolute path).

    ``allow_external_links``: its links are followed even where they lead outside it.
    """

    __slots__ = ("alias", "allow_external_links", "bundled", "dialect", "prefix", "root", "uid")

    def __init__(
        self,
        alias: str,
        uid: str,
        root: str,
        dialect: Dialect,
        prefix: str = "",
        bundled: bool = False,
        allow_external_links: bool = False,
    ) -> None:
        self.alias = alias
        self.uid = uid
        self.root = root
        self.dialect = dialect
        self.prefix = prefix
        self.bundled = bundled
        self.allow_external_links = allow_external_links

    @property
    def scripts_dir(self) -> str:
        return os.path.join(self.root, self.prefix, "script")

    @property
    def links_allowed(self) -> bool:
        """Whether links out of the repository are followed (registration or environment)."""
        return self.allow_external_links or links.allowed_by_env()

    def to_json(self) -> dict[str, str | bool]:
        return {
            "alias": self.alias,
            "uid": self.uid,
            "path": self.root,
            "dialect": self.dialect.value,
            "bundled": self.bundled,
            "allow_external_links": self.allow_external_links,
        }


def _refuse_outside(path: str, root: str, allowed: bool) -> None:
    """Raise :class:`ExternalLinkRefused` if ``path`` leads outside ``root`` unless allowed."""
    if allowed or links.allowed_by_env():
        return
    target = links.outside_target(path, root)
    if target is not None:
        raise ExternalLinkRefused(path, target, root=root)


def _read_repo_meta(path: str) -> KeyedDict:
    from pathlib import Path

    from ..meta.metafile import KeyedDict, load_json_file, load_yaml_file

    file = Path(path)
    data, _ = load_json_file(file) if path.endswith(".json") else load_yaml_file(file)
    if not isinstance(data, KeyedDict):
        raise MetaError(Where(path), "a repository meta file must hold a mapping")
    return data


def open_repository(
    root: str | os.PathLike[str], *, bundled: bool = False, allow_external_links: bool = False
) -> Repository:
    """Recognise the repository at ``root`` (CM: ``cmr.yaml``/``cmr.json``; MLC: ``meta.yaml``).

    A meta file or script folder that is a link out of the repository raises
    :class:`ExternalLinkRefused` unless ``allow_external_links``.
    """
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
    files = [os.path.join(root, name)]
    if name == "cmr.yaml" and os.path.isfile(os.path.join(root, "cmr.json")):
        files.append(os.path.join(root, "cmr.json"))
    for file in files:
        _refuse_outside(file, root, allow_external_links)
    meta = _read_repo_meta(files[0])
    for file in files[1:]:
        meta.update(_read_repo_meta(file))
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
        allow_external_links=allow_external_links,
    )
    if not os.path.isdir(repo.scripts_dir):
        raise RepoError(
            f"repository '{repo.alias}' at {root} has no script folder {repo.scripts_dir}",
            hint="Scripts must live in <repository>/<prefix>/script/<name>/.",
        )
    _refuse_outside(repo.scripts_dir, root, allow_external_links)
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

    def _stored(self) -> list[tuple[str, bool]]:
        """``(path, allow_external_links)`` of each registered repository, in order."""
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
        rows: list[tuple[str, bool]] = []
        for item in data if isinstance(data, list) else [None]:
            if isinstance(item, str):
                rows.append((item, False))
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                rows.append((item["path"], item.get("allow_external_links") is True))
            else:
                raise RepoError(
                    f"{self.file}: must be a JSON list of paths (or of "
                    '{"path": ..., "allow_external_links": true})'
                )
        return rows

    def _save(self, rows: list[tuple[str, bool]]) -> None:
        import json

        data = [{"path": p, "allow_external_links": True} if allowed else p for p, allowed in rows]
        os.makedirs(self.home, exist_ok=True)
        tmp = f"{self.file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=1) + "\n")
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
        rows = old.get("rows") if old.get("list_sig") == list_sig else None
        if not isinstance(rows, list):
            rows = self._stored()
        known = old.get("repos")
        if not isinstance(known, dict):
            known = {}
        seen: dict[str, object] = {}
        repos = [self._open(BUNDLED_REPO_PATH, False, known, seen, bundled=True)]
        for path, allowed in rows:
            try:
                repos.append(self._open(path, allowed, known, seen))
            except (RepoError, MetaError) as exc:
                remove = f"Remove it with 'cm-snakemake repo rm {path}' or restore it."
                raise RepoError(
                    f"registered repository {path} cannot be used: {exc.message}",
                    hint=f"{remove} {exc.hint}" if isinstance(exc, ExternalLinkRefused) else remove,
                ) from None
        new = {"list_sig": list_sig, "rows": rows, "repos": seen}
        if new != old:
            save_snapshot(self._snapshot_file, _SNAPSHOT_TAG, new)
        return repos

    @staticmethod
    def _open(
        root: str,
        allowed: bool,
        known: dict[str, object],
        seen: dict[str, object],
        *,
        bundled: bool = False,
    ) -> Repository:
        sig = file_signature(root, [name for name, _ in _REPO_META_FILES])
        row = known.get(root)
        follow = allowed or links.allowed_by_env()
        if sig and isinstance(row, tuple) and len(row) == 6 and row[0] == sig and row[5] == follow:
            _, alias, uid, dialect, prefix, _ = row
            repo = Repository(alias, uid, root, Dialect(dialect), prefix, bundled, allowed)
            if os.path.isdir(repo.scripts_dir) and (
                follow or links.outside_target(repo.scripts_dir, root) is None
            ):
                seen[root] = row
                return repo
        repo = open_repository(root, bundled=bundled, allow_external_links=allowed)
        seen[root] = (sig, repo.alias, repo.uid, str(repo.dialect), repo.prefix, follow)
        return repo

    # -- changing ----------------------------------------------------------------------------

    def add(
        self, path: str | os.PathLike[str], *, allow_external_links: bool = False
    ) -> Repository:
        """Register the repository at ``path``; return it.

        With ``allow_external_links`` its links are followed even where they lead outside it;
        for a repository that is already registered, this turns that on.
        """
        repo = open_repository(path, allow_external_links=allow_external_links)
        for other in self.repositories():
            if other.root == repo.root:
                if allow_external_links and not other.allow_external_links and not other.bundled:
                    self._save([(p, a or p == repo.root) for p, a in self._stored()])
                    return repo
                raise RepoError(f"{repo.root} is already registered as '{other.alias}'")
            if other.alias == repo.alias:
                raise RepoError(
                    f"another repository with alias '{repo.alias}' is registered: {other.root}",
                    hint=f"Remove it first with 'cm-snakemake repo rm {other.alias}'.",
                )
        from .shipped import write_manifest

        write_manifest(self.home, repo.root)  # the files it ships (``shipped.py``)
        self._save([*self._stored(), (repo.root, allow_external_links)])
        return repo

    def remove(self, name: str) -> str:
        """Unregister the repository with alias or path ``name``; return its path."""
        rows = self._stored()
        wanted = _absolute(name) if os.sep in name else None
        for path, allowed in rows:
            alias = None
            try:
                alias = open_repository(path, allow_external_links=allowed).alias
            except (RepoError, MetaError):
                pass
            if path in (wanted, name) or alias == name:
                self._save([row for row in rows if row[0] != path])
                from .shipped import manifest_path

                try:
                    os.unlink(manifest_path(self.home, path))
                except OSError:
                    pass
                return path
        if name == open_repository(BUNDLED_REPO_PATH).alias:
            raise RepoError("the bundled repository is always registered and cannot be removed")
        raise RepoError(
            f"no registered repository '{name}'",
            hint="Run 'cm-snakemake repo list' to see the registered repositories.",
        )
