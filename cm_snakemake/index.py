"""The script index: every script of every registered repository, persisted and never stale.

CM keeps an ``index.json`` that goes stale when a meta file changes behind its back. Ours
stores, per repository, a pickle of each script's summary and typed meta together with the
*signature* of its meta files (name, size, mtime and inode). Each load re-checks every
signature with a ``stat`` (a few milliseconds for hundreds of scripts) and re-reads only the
scripts whose files changed, appeared or vanished, so the index is always current.

The persisted file is an accelerator only: when it is missing, unreadable, from another
version or cannot be written, the index is rebuilt in memory and work goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CMSnakemakeError, MetaError, Where
from .meta import Dialect, MetaWarning, ScriptMeta, build_script_meta
from .metafile import load_meta_files
from .reporting import NullReporter, Reporter
from .repos import Registry, Repository

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["ScriptEntry", "ScriptIndex"]

_FORMAT = 3  # bump when the pickle layout changes


def _builder_fingerprint() -> str:
    """Hash the source of the modules that turn meta files into entries.

    A persisted index made by other code (an upgrade, an edited checkout) is rebuilt.
    """
    digest = hashlib.sha1(usedforsecurity=False)
    here = Path(__file__).resolve().parent
    for name in ("index.py", "meta.py", "metafile.py", "_frozen.py"):
        digest.update((here / name).read_bytes())
    return f"{_FORMAT}-{digest.hexdigest()[:16]}"


_FINGERPRINT = _builder_fingerprint()
_META_FILES = {Dialect.CM: ("_cm.yaml", "_cm.json"), Dialect.MLC: ("meta.yaml",)}

Signature = tuple[tuple[str, int, int, int], ...]


@dataclass(frozen=True, slots=True)
class ScriptEntry:
    """What search needs to know about a script, cheap to load for hundreds of them."""

    alias: str
    uid: str
    tags: tuple[str, ...]
    variations: tuple[str, ...]
    sort: int
    path: str
    repo: str
    dialect: Dialect
    warnings: tuple[str, ...] = ()
    error: str | None = None
    """Set when the meta cannot be read; such an entry is never a search result."""

    @property
    def tag_set(self) -> frozenset[str]:
        return frozenset(self.tags)

    @property
    def name(self) -> str:
        """``repo:alias``, the unambiguous name of the script."""
        return f"{self.repo}:{self.alias}"


@dataclass(slots=True)
class _Stored:
    signature: Signature
    entry: ScriptEntry
    meta_blob: bytes | None


def _signature(script_dir: str, names: Sequence[str]) -> Signature:
    sig = []
    for name in names:
        try:
            st = os.stat(os.path.join(script_dir, name))
        except (FileNotFoundError, NotADirectoryError):
            continue
        sig.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sig)


def _read_script(repo: Repository, script_dir: str, sig: Signature) -> _Stored:
    files = [Path(script_dir, name) for name, *_ in sig]
    dialect = Dialect.MLC if sig[0][0] == "meta.yaml" else Dialect.CM
    dir_name = os.path.basename(script_dir)
    try:
        raw, notes = load_meta_files(files)
        meta, warnings = build_script_meta(
            raw, path=script_dir, meta_files=tuple(map(str, files)), dialect=dialect
        )
    except MetaError as exc:
        entry = ScriptEntry(
            alias=dir_name, uid="", tags=(), variations=(), sort=0, path=script_dir,
            repo=repo.alias, dialect=dialect, error=exc.render(),
        )  # fmt: skip
        return _Stored(sig, entry, None)
    texts = tuple([*notes, *map(str, warnings)])
    if meta.alias != dir_name:
        texts += (
            str(
                MetaWarning(
                    Where(str(files[0])),
                    f"alias '{meta.alias}' differs from its folder name '{dir_name}'",
                )
            ),
        )
    entry = ScriptEntry(
        alias=meta.alias, uid=meta.uid, tags=meta.tags, variations=tuple(meta.variations),
        sort=meta.sort, path=script_dir, repo=repo.alias, dialect=dialect, warnings=texts,
    )  # fmt: skip
    return _Stored(sig, entry, pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))


class ScriptIndex:
    """All scripts of a list of repositories, in repository order, then folder order."""

    def __init__(
        self,
        repos: Sequence[Repository],
        *,
        cache_dir: Path | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.repos = list(repos)
        self.cache_dir = cache_dir
        self.reporter = reporter or NullReporter()
        self._stored: dict[str, _Stored] = {}
        self._metas: dict[str, ScriptMeta] = {}
        self.reread = 0
        for repo in self.repos:
            self._load_repo(repo)
        self.entries = [s.entry for s in self._stored.values()]
        self.duplicate_uids = self._find_duplicate_uids()

    @classmethod
    def from_registry(
        cls, registry: Registry | None = None, *, reporter: Reporter | None = None
    ) -> ScriptIndex:
        """Open the index of every registered repository, persisted under the home folder."""
        registry = registry or Registry()
        return cls(registry.repositories(), cache_dir=registry.home / "index", reporter=reporter)

    # -- persistence -------------------------------------------------------------------------

    def _cache_file(self, repo: Repository) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha1(str(repo.root).encode(), usedforsecurity=False).hexdigest()[:16]
        return self.cache_dir / f"{repo.alias.replace('/', '_')}-{digest}.pickle"

    def _read_cache(self, file: Path | None, repo: Repository) -> dict[str, _Stored]:
        if file is None:
            return {}
        try:
            with open(file, "rb") as fh:
                data = pickle.load(fh)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # a corrupt accelerator is rebuilt, never trusted
            self.reporter.note(f"rebuilding the script index of '{repo.alias}' ({exc})")
            return {}
        if not isinstance(data, dict) or data.get("format") != _FINGERPRINT:
            return {}
        if data.get("root") != str(repo.root) or data.get("alias") != repo.alias:
            return {}
        stored: dict[str, _Stored] = data["scripts"]
        return stored

    def _write_cache(
        self, file: Path | None, repo: Repository, scripts: dict[str, _Stored]
    ) -> None:
        if file is None:
            return
        payload = {"format": _FINGERPRINT, "root": str(repo.root), "alias": repo.alias,
                   "scripts": scripts}  # fmt: skip
        tmp = file.with_name(f".{file.name}.{os.getpid()}")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, file)
        except OSError as exc:
            self.reporter.note(f"cannot save the script index to {file} ({exc.strerror})")
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _load_repo(self, repo: Repository) -> None:
        file = self._cache_file(repo)
        old = self._read_cache(file, repo)
        names = _META_FILES[repo.dialect]
        alt = _META_FILES[Dialect.MLC if repo.dialect is Dialect.CM else Dialect.CM]
        new: dict[str, _Stored] = {}
        reread = 0
        with os.scandir(repo.scripts_dir) as it:
            dirs = sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))
        for script_dir in dirs:
            sig = _signature(script_dir, names) or _signature(script_dir, alt)
            if not sig:
                continue
            prev = old.get(script_dir)
            if prev is not None and prev.signature == sig:
                new[script_dir] = prev
            else:
                new[script_dir] = _read_script(repo, script_dir, sig)
                reread += 1
        self.reread += reread
        if reread or new.keys() != old.keys():
            self._write_cache(file, repo, new)
        self._stored.update(new)

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
        """Return the typed meta of ``entry`` (raises :class:`MetaError` for a broken one)."""
        cached = self._metas.get(entry.path)
        if cached is not None:
            return cached
        stored = self._stored[entry.path]
        if stored.meta_blob is None:
            raise CMSnakemakeError(entry.error or f"{entry.path}: unreadable meta")
        meta: ScriptMeta = pickle.loads(stored.meta_blob)
        self._metas[entry.path] = meta
        return meta

    def all_tags(self) -> set[str]:
        """Return every tag of every usable script."""
        return {t for e in self.entries for t in e.tags}
