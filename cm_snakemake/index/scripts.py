"""The script index: every script of every registered repository, persisted and never stale.

CM keeps an ``index.json`` that goes stale when a meta file changes behind its back. Ours
keeps, per repository, a snapshot of each script's summary and typed meta together with the
*signature* of its meta files (name, size, mtime and inode). Each load re-checks every
signature with a ``stat`` (a few milliseconds for hundreds of scripts) and re-reads only the
scripts whose files changed, appeared or vanished, so the index is always current.

Typed metas (pickled) live in a second snapshot per repository, read only when a command
needs the full meta of a script. Both snapshots are accelerators only: when one is missing,
unreadable, made by other code or cannot be written, what it held is rebuilt from the files.

A script folder or meta file that is a link out of its repository is not read (see
:mod:`cm_snakemake.index.links`): the script becomes an unreadable entry whose error names the link,
its target and how to allow it. Other files of a script that link out of the repository are
named in the entry's warnings.
"""

from __future__ import annotations

import os
import zlib

from .._util.record import Record
from .._util.reporting import NullReporter, Reporter
from .._util.snapshot import file_signature, load_snapshot, save_snapshot
from ..errors import CMSnakemakeError, ExternalLinkRefused, MetaError, Where
from ..meta.dialect import Dialect
from . import links
from .repos import Registry, Repository

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ..meta.model import ScriptMeta
    from .scan import ScriptScan

__all__ = ["ScriptEntry", "ScriptIndex"]

_META_FILES = {Dialect.CM: ("_cm.yaml", "_cm.json"), Dialect.MLC: ("meta.yaml",)}
_BUILDER_MODULES = (
    "index/scripts.py",
    "meta/model.py",
    "meta/build.py",
    "meta/metafile.py",
    "meta/keyed.py",
    "_util/frozen.py",
    "meta/dialect.py",
)

Signature = tuple[tuple[str, int, int, int], ...]


def _snapshot_tag() -> str:
    """Identify the code that builds entries: a snapshot made by other code is rebuilt.

    The sizes and modification times of the builder modules change with every upgrade and
    every edit of a checkout; reading them costs a few ``stat`` calls.
    """
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the package
    parts = [f"{s}:{m}" for _, s, m, _ in file_signature(here, _BUILDER_MODULES)]
    return "cm-snakemake index 4 " + " ".join(parts)


class ScriptEntry(Record):
    """What search needs to know about a script, cheap to load for hundreds of them.

    ``error`` is set when the meta cannot be read; such an entry is never a search result.
    """

    __slots__ = (
        "alias",
        "dialect",
        "error",
        "path",
        "repo",
        "sort",
        "tags",
        "uid",
        "variations",
        "warnings",
    )

    def __init__(  # noqa: PLR0913 - the fields of the record
        self,
        alias: str,
        uid: str,
        tags: tuple[str, ...],
        variations: tuple[str, ...],
        sort: int,
        path: str,
        repo: str,
        dialect: Dialect,
        warnings: tuple[str, ...] = (),
        error: str | None = None,
    ) -> None:
        self.alias = alias
        self.uid = uid
        self.tags = tags
        self.variations = variations
        self.sort = sort
        self.path = path
        self.repo = repo
        self.dialect = dialect
        self.warnings = warnings
        self.error = error

    @property
    def tag_set(self) -> frozenset[str]:
        return frozenset(self.tags)

    @property
    def name(self) -> str:
        """``repo:alias``, the unambiguous name of the script."""
        return f"{self.repo}:{self.alias}"

    def to_plain(self) -> tuple[object, ...]:
        """Return the entry as plain data (for the snapshot)."""
        return (
            self.alias,
            self.uid,
            self.tags,
            self.variations,
            self.sort,
            self.path,
            self.repo,
            str(self.dialect),
            self.warnings,
            self.error,
        )

    @classmethod
    def from_plain(cls, data: tuple[object, ...]) -> ScriptEntry:
        alias, uid, tags, variations, sort, path, repo, dialect, warnings, error = data
        fields = (alias, uid, tags, variations, sort, path, repo, Dialect(str(dialect)), warnings,
                  error)  # fmt: skip
        return cls(*fields)  # type: ignore[arg-type]


# What is read per script folder: (signature, entry as plain data, pickled typed meta or None)
_Stored = tuple[Signature, tuple[object, ...], bytes | None]


def _refused(repo: Repository, script_dir: str, dialect: Dialect, error: str) -> ScriptEntry:
    alias = os.path.basename(script_dir)
    return ScriptEntry(alias, "", (), (), 0, script_dir, repo.alias, dialect, error=error)


def _outside_links(repo: Repository, script_dir: str) -> tuple[str, ...]:
    """Warnings for the files and folders of ``script_dir`` that link out of the repository."""
    if repo.links_allowed:
        return ()
    try:
        with os.scandir(script_dir) as it:
            found = sorted(e.path for e in it if e.is_symlink())
    except OSError:
        return ()
    texts = []
    for path in found:
        target = links.outside_target(path, repo.root)
        if target is not None:
            error = ExternalLinkRefused(path, target, root=repo.root)
            texts.append(f"{error.message}. {error.hint}")
    return tuple(texts)


def _read_script(repo: Repository, script_dir: str, sig: Signature) -> _Stored:
    # The typed-meta modules cost tens of milliseconds to import; a warm index never needs them.
    import pickle
    from pathlib import Path

    from ..meta.build import build_script_meta
    from ..meta.metafile import load_meta_files
    from ..meta.model import MetaWarning

    files = [Path(script_dir, name) for name, *_ in sig]
    dialect = Dialect.MLC if sig[0][0] == "meta.yaml" else Dialect.CM
    dir_name = os.path.basename(script_dir)
    link_warnings = _outside_links(repo, script_dir)
    for file in files if link_warnings else ():
        target = links.outside_target(str(file), repo.root)
        if target is not None:
            error = ExternalLinkRefused(str(file), target, root=repo.root).render()
            return sig, _refused(repo, script_dir, dialect, error).to_plain(), None
    try:
        raw, notes = load_meta_files(files)
        meta, warnings = build_script_meta(
            raw, path=script_dir, meta_files=tuple(map(str, files)), dialect=dialect
        )
    except MetaError as exc:
        entry = ScriptEntry(
            dir_name, "", (), (), 0, script_dir, repo.alias, dialect, error=exc.render()
        )
        return sig, entry.to_plain(), None
    texts = tuple([*notes, *map(str, warnings), *link_warnings])
    if meta.alias != dir_name:
        message = f"alias '{meta.alias}' differs from its folder name '{dir_name}'"
        texts += (str(MetaWarning(Where(str(files[0])), message)),)
    entry = ScriptEntry(
        meta.alias,
        meta.uid,
        meta.tags,
        tuple(meta.variations),
        meta.sort,
        script_dir,
        repo.alias,
        dialect,
        texts,
    )
    return sig, entry.to_plain(), pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)


class ScriptIndex:
    """All scripts of a list of repositories, in repository order, then folder order."""

    def __init__(
        self,
        repos: Sequence[Repository],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        reporter: Reporter | None = None,
        home: str | None = None,
    ) -> None:
        self.repos = list(repos)
        self.home = home  # where registration manifests are (``shipped.py``)
        self._shipped: dict[str, dict[str, frozenset[str]] | None] = {}
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
        self.reporter = reporter or NullReporter()
        self._repo_of: dict[str, Repository] = {}
        self._sigs: dict[str, Signature] = {}
        self._blobs: dict[str, bytes | None] = {}
        self._blob_files_read: set[str] = set()
        self._metas: dict[str, ScriptMeta] = {}
        self._by_tag: dict[str, list[ScriptEntry]] | None = None
        self._scans: dict[str, ScriptScan] = {}
        self._scan_store: dict[str, dict[str, tuple[object, ...]]] = {}
        self._scans_dirty: set[str] = set()
        self.reread = 0
        self.entries: list[ScriptEntry] = []
        self._tag = _snapshot_tag()
        for repo in self.repos:
            self._load_repo(repo)
        self.duplicate_uids = self._find_duplicate_uids()

    @classmethod
    def from_registry(
        cls, registry: Registry | None = None, *, reporter: Reporter | None = None
    ) -> ScriptIndex:
        """Open the index of every registered repository, persisted under the home folder."""
        registry = registry or Registry()
        return cls(
            registry.repositories(),
            cache_dir=registry.index_dir,
            reporter=reporter,
            home=registry.home,
        )

    def _snapshot_file(self, repo: Repository, kind: str) -> str | None:
        if self.cache_dir is None:
            return None
        digest = zlib.crc32(repo.root.encode())
        name = f"{repo.alias.replace('/', '_')}-{digest:08x}.{kind}.marshal"
        return os.path.join(self.cache_dir, name)

    @staticmethod
    def _identity(repo: Repository) -> tuple[str, str, bool]:
        """What a snapshot of ``repo`` is valid for: what it read depends on the link policy."""
        return repo.root, repo.alias, repo.links_allowed

    def _read_snapshot(self, repo: Repository, kind: str) -> dict[str, tuple[object, ...]]:
        file = self._snapshot_file(repo, kind)
        data = load_snapshot(file, self._tag) if file else None
        if isinstance(data, tuple) and data[:3] == self._identity(repo):
            found: dict[str, tuple[object, ...]] = data[3]
            return found
        return {}

    def _script_dirs(self, repo: Repository) -> tuple[list[str], list[ScriptEntry]]:
        """The script folders of ``repo`` to read, and entries for the ones that are links
        out of the repository (not read unless allowed)."""
        with os.scandir(repo.scripts_dir) as it:
            found = sorted(
                (e.path, e.is_symlink()) for e in it if e.is_dir() and not e.name.startswith(".")
            )
        dirs: list[str] = []
        refused: list[ScriptEntry] = []
        allowed = repo.links_allowed
        for path, is_link in found:
            target = None if allowed or not is_link else links.outside_target(path, repo.root)
            if target is None:
                dirs.append(path)
            else:
                error = ExternalLinkRefused(path, target, root=repo.root).render()
                refused.append(_refused(repo, path, repo.dialect, error))
        return dirs, refused

    def _load_repo(self, repo: Repository) -> None:
        links.remember(repo.root, allowed=repo.allow_external_links)
        old = self._read_snapshot(repo, "entries")
        names = _META_FILES[repo.dialect]
        alt = _META_FILES[Dialect.MLC if repo.dialect == Dialect.CM else Dialect.CM]
        new: dict[str, tuple[Signature, tuple[object, ...]]] = {}
        fresh: dict[str, bytes | None] = {}
        reread = 0
        dirs, refused = self._script_dirs(repo)
        for script_dir in dirs:
            sig = file_signature(script_dir, names) or file_signature(script_dir, alt)
            if not sig:
                continue
            prev = old.get(script_dir)
            if prev is not None and prev[0] == sig:
                new[script_dir] = prev  # type: ignore[assignment]
            else:
                _, plain, fresh[script_dir] = _read_script(repo, script_dir, sig)
                new[script_dir] = (sig, plain)
                reread += 1
        self.reread += reread
        for script_dir, (sig, _) in new.items():
            self._sigs[script_dir] = sig
        loaded = [ScriptEntry.from_plain(plain) for _, plain in new.values()]
        for entry in sorted([*loaded, *refused], key=lambda e: e.path) if refused else loaded:
            self.entries.append(entry)
            self._repo_of[entry.path] = repo
        self._blobs.update(fresh)
        if reread or new.keys() != old.keys():
            self._save(repo, new, fresh)

    def _save(
        self,
        repo: Repository,
        entries: dict[str, tuple[Signature, tuple[object, ...]]],
        fresh: dict[str, bytes | None],
    ) -> None:
        """Write both snapshots of ``repo``; typed metas are merged with the stored ones."""
        entries_file = self._snapshot_file(repo, "entries")
        metas_file = self._snapshot_file(repo, "metas")
        if entries_file is None or metas_file is None:
            return
        metas = self._read_snapshot(repo, "metas") if len(fresh) < len(entries) else {}
        stored = {
            d: (sig, fresh[d] if d in fresh else metas.get(d, (None, None))[1])
            for d, (sig, _) in entries.items()
        }
        for file, data in ((metas_file, stored), (entries_file, entries)):
            problem = save_snapshot(file, self._tag, (*self._identity(repo), data))
            if problem:
                self.reporter.note(f"cannot save the script index to {file} ({problem})")
                return

    def _find_duplicate_uids(self) -> dict[str, list[ScriptEntry]]:
        """Return ``uid -> entries`` for uids that several scripts claim.

        CM's own index then shows only one of them; we keep both and say so.
        """
        by_uid: dict[str, list[ScriptEntry]] = {}
        for entry in self.entries:
            if entry.uid:
                by_uid.setdefault(entry.uid, []).append(entry)
        return {uid: found for uid, found in by_uid.items() if len(found) > 1}

    # -- access ------------------------------------------------------------------------------

    def repository(self, entry: ScriptEntry) -> Repository:
        """The repository ``entry`` was read from."""
        return self._repo_of[entry.path]

    def bundled_paths(self) -> tuple[str, ...]:
        """The script folders of the bundled repository (a prefix of its scripts' paths)."""
        return tuple(r.scripts_dir + os.sep for r in self.repos if r.bundled)

    def __iter__(self) -> Iterator[ScriptEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def usable(self) -> list[ScriptEntry]:
        """Return the entries whose meta could be read."""
        return [e for e in self.entries if e.error is None]

    def broken(self) -> list[ScriptEntry]:
        """Return the entries whose meta could not be read."""
        return [e for e in self.entries if e.error is not None]

    def meta(self, entry: ScriptEntry) -> ScriptMeta:
        """Return the typed meta of ``entry`` (raises for an unreadable one)."""
        cached = self._metas.get(entry.path)
        if cached is not None:
            return cached
        if entry.error is not None:
            raise CMSnakemakeError(entry.error)
        repo = self._repo_of[entry.path]
        if entry.path not in self._blobs and repo.root not in self._blob_files_read:
            self._blob_files_read.add(repo.root)
            for script_dir, (sig, blob) in self._read_snapshot(repo, "metas").items():
                if sig == self._sigs.get(script_dir) and script_dir not in self._blobs:
                    self._blobs[script_dir] = blob  # type: ignore[assignment]
        blob = self._blobs.get(entry.path)
        if blob is None:  # not in the snapshot (or a stale one): read the files again
            _, _, blob = _read_script(repo, entry.path, self._sigs[entry.path])
            if blob is None:
                raise CMSnakemakeError(f"{entry.path}: the meta changed while being read")
            self._blobs[entry.path] = blob
        import pickle

        meta: ScriptMeta = pickle.loads(blob)
        self._metas[entry.path] = meta
        return meta

    def scan(self, entry: ScriptEntry) -> ScriptScan:
        """What the script's files may read and write (:mod:`cm_snakemake.index.scan`).

        Kept in a third snapshot per repository, keyed by the signature of the files, so a
        scan is redone only for a script whose files changed. :meth:`flush` saves new scans.
        """
        from .scan import folder_signature, scan_from_plain, scan_script, scan_to_plain

        found = self._scans.get(entry.path)
        if found is not None:
            return found
        repo = self._repo_of[entry.path]
        store = self._scan_store.get(repo.root)
        if store is None:
            store = self._scan_store[repo.root] = dict(self._read_snapshot(repo, "scans"))
        shipped = self._shipped_in(repo, entry.path)
        sig = (folder_signature(entry.path), None if shipped is None else tuple(sorted(shipped)))
        stored = store.get(entry.path)
        if stored is not None and stored[0] == sig:
            found = scan_from_plain(stored[1])
        else:
            found = scan_script(entry.path, shipped)
            store[entry.path] = (sig, scan_to_plain(found))
            self._scans_dirty.add(repo.root)
        self._scans[entry.path] = found
        return found

    def _shipped_in(self, repo: Repository, folder: str) -> frozenset[str] | None:
        """The files the repository ships in script ``folder`` (relative to it), or None."""
        if repo.root not in self._shipped:
            from .shipped import shipped_files

            found = None if repo.bundled else shipped_files(self.home, repo.root)
            self._shipped[repo.root] = None if found is None else _by_folder(found)
        groups = self._shipped[repo.root]
        if groups is None:
            return None
        return groups.get(os.path.relpath(folder, repo.root), frozenset())

    def flush(self) -> None:
        """Save the scans made since the index was opened (an accelerator; errors are notes)."""
        for repo in self.repos:
            if repo.root in self._scans_dirty:
                file = self._snapshot_file(repo, "scans")
                if file is not None:
                    data = (*self._identity(repo), self._scan_store[repo.root])
                    problem = save_snapshot(file, self._tag, data)
                    if problem:
                        self.reporter.note(f"cannot save script scans to {file} ({problem})")
        self._scans_dirty.clear()

    def with_tag(self, tag: str) -> list[ScriptEntry]:
        """The usable entries that have ``tag``, in index order."""
        by_tag = self._by_tag
        if by_tag is None:
            by_tag = self._by_tag = {}
            for entry in self.entries:
                if entry.error is None:
                    for t in entry.tags:
                        by_tag.setdefault(t, []).append(entry)
        return by_tag.get(tag, [])

    def all_tags(self) -> set[str]:
        """Return every tag of every usable script."""
        return {t for e in self.entries for t in e.tags}


def _by_folder(paths: frozenset[str]) -> dict[str, frozenset[str]]:
    """Paths relative to a repository grouped by the script folder holding them (as paths
    relative to the repository), each relative to that folder."""
    groups: dict[str, set[str]] = {}
    for path in paths:
        parts = path.split(os.sep)
        for cut in range(1, len(parts)):
            groups.setdefault(os.sep.join(parts[:cut]), set()).add(os.sep.join(parts[cut:]))
    return {k: frozenset(v) for k, v in groups.items()}
