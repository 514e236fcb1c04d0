"""The cache store: one folder per cached node, content-addressed by the node key.

``<cache root>/<script alias>/<node key>/`` holds what the script wrote while running (it runs
with that folder as its working directory, as in CM), CM's ``cm-cached-state.json``
(``new_env``, ``new_state``, ``version``), ``cmsm-provenance.json`` and, written last and
atomically, ``cmsm-result.json``. An entry is complete, and trusted, only when that last file
exists and reads back.

Entries are built in place rather than in a temporary folder renamed at the end: scripts bake
absolute paths into what they build (a Python venv's scripts, compiled rpaths, config files),
which a rename would break. Safety comes from the lock and the completion marker instead:

* a build holds an exclusive ``flock`` on ``<alias>/.<key>.lock``; a second process wanting
  the same key waits and then finds the finished entry; different keys build in parallel. The
  kernel drops the lock of a killed process, so no stale lock remains;
* a folder without a valid ``cmsm-result.json`` is a leftover of a failed or killed build:
  the next build moves it aside and deletes it before starting, and lookups never return it.

The root is ``$CMSM_CACHE`` or ``$CMSM_HOME/cache``; it can be shared by users and cluster
nodes on a shared file system. A moved root still works: exported values that point into the
entry are rewritten from the recorded entry path to the current one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._util.settings import settings
from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["CacheEntry", "CacheStore", "file_lock"]

RESULT = "cmsm-result.json"
CM_STATE = "cm-cached-state.json"
PROVENANCE = "cmsm-provenance.json"
LAST_USED = ".cmsm-last-used"
SAVED = ".cmsm-result.saved.json"  # a copy of the marker, written just before it
_FORMAT = 1
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass
class CacheEntry:
    """A complete cache entry: where it is and what the script exported."""

    alias: str
    key: str
    path: str
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def new_env(self) -> dict[str, Any]:
        env: dict[str, Any] = self.result.get("new_env", {})
        return env

    @property
    def new_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.result.get("new_state", {})
        return state

    @property
    def expires(self) -> float | None:
        """When the entry's ``cache_expiration`` runs out (seconds since the epoch), if set."""
        value = self.result.get("expires")
        return float(value) if isinstance(value, int | float) else None

    def expired(self) -> bool:
        return self.expires is not None and self.expires <= time.time()


def safe_name(text: str) -> str:
    """A folder name from ``text`` that cannot leave its parent (no ``/``, no ``..``)."""
    cleaned = "".join(c if c in _SAFE else "_" for c in text).strip(".") or "_"
    return cleaned[:100]


def _relocate(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and old and value.startswith(old):
        return new + value[len(old) :]
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    return value


def _group_shared() -> bool:
    """A team cache: ``CMSM_CACHE_GROUP_WRITABLE=1`` makes entries writable by the group
    (folders also setgid, so that new files keep the folder's group)."""
    return settings.cache_group_writable


def _safe_mode(mode: int, is_dir: bool) -> int:
    """``mode`` without write for others; with group sharing, readable and writable by the
    group (folders and executables also searchable/executable by it, folders setgid)."""
    mode &= ~stat.S_IWOTH
    if _group_shared():
        mode |= stat.S_IRGRP | stat.S_IWGRP
        if is_dir:
            mode |= stat.S_IXGRP | stat.S_ISGID
        elif mode & stat.S_IXUSR:
            mode |= stat.S_IXGRP
    return mode


def _chmod_safe(path: str, is_dir: bool) -> None:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    wanted = _safe_mode(stat.S_IMODE(info.st_mode), is_dir)
    if wanted != stat.S_IMODE(info.st_mode):
        os.chmod(path, wanted)


def tighten(path: str) -> None:
    """Make nothing below ``path`` writable by others (whatever umask the script ran with);
    with group sharing, make it readable and writable by the group. Links are left alone."""
    for folder, _, files in os.walk(path):
        _chmod_safe(folder, True)
        for name in files:
            _chmod_safe(os.path.join(folder, name), False)


def tighten_folder(path: str) -> None:
    """:func:`tighten` for one folder only (not what is in it)."""
    _chmod_safe(path, True)


@contextlib.contextmanager
def file_lock(path: str, *, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing).

    The holder writes its host and process id into the file, so that a process that has to
    wait can say for whom (``on_wait``). The kernel releases the lock of a process that dies,
    however it dies: a lock file left behind is free, never stale.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
                on_wait(f"waiting for {holder}, which holds {path}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} on {platform.node()}\n".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class CacheStore:
    """Cache entries under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        chosen = os.fspath(root) if root is not None else settings.cache
        self.root = os.path.abspath(chosen)

    def entry_path(self, alias: str, key: str) -> str:
        if not key or set(key) - set("0123456789abcdef"):
            raise CMSnakemakeError(f"invalid cache key '{key}'")
        return os.path.join(self.root, safe_name(alias), key)

    def lookup(self, alias: str, key: str) -> CacheEntry | None:
        """Return the complete entry for ``key``, or None."""
        path = self.entry_path(alias, key)
        result = self._read_result(path)
        if result is None:
            return None
        with contextlib.suppress(OSError):
            with open(os.path.join(path, LAST_USED), "w", encoding="utf-8") as fh:
                fh.write(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return CacheEntry(alias, key, path, result)

    def entries_of(self, alias: str) -> list[CacheEntry]:
        """Every complete entry of script ``alias``, in key order."""
        folder = os.path.join(self.root, safe_name(alias))
        if not os.path.isdir(folder):
            return []
        found = []
        for key in sorted(os.listdir(folder)):
            path = os.path.join(folder, key)
            if key.startswith(".") or ".stale-" in key or not os.path.isdir(path):
                continue
            result = self._read_result(path)
            if result is not None:
                found.append(CacheEntry(alias, key, path, result))
        return found

    def has_entries(self, alias: str) -> bool:
        """Whether any complete entry of script ``alias`` exists."""
        folder = os.path.join(self.root, safe_name(alias))
        try:
            names = os.listdir(folder)
        except OSError:
            return False
        return any(os.path.isfile(os.path.join(folder, n, RESULT)) for n in names)

    @staticmethod
    def _read_result(path: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(path, RESULT), encoding="utf-8") as fh:
                result = json.load(fh)
        except (OSError, ValueError):
            return None
        if not isinstance(result, dict) or result.get("format") != _FORMAT:
            return None
        recorded = result.get("entry", path)
        if recorded != path:  # the cache root moved: values that pointed into it follow
            result["new_env"] = {
                k: _relocate(v, recorded, path) for k, v in result.get("new_env", {}).items()
            }
            result["relocated_from"] = recorded
        return result

    @contextlib.contextmanager
    def lock(
        self, alias: str, key: str, *, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the build lock of ``key`` (waits while another process builds it; ``on_wait``
        gets a message naming that process first)."""
        folder = os.path.join(self.root, safe_name(alias))
        os.makedirs(folder, exist_ok=True)
        with file_lock(os.path.join(folder, f".{key}.lock"), on_wait=on_wait):
            yield

    def prepare(self, alias: str, key: str) -> tuple[str, str | None]:
        """Make an empty folder for building ``key`` (call with the lock held).

        Returns the folder, and the path of a removed leftover of an earlier build, if any.
        """
        path = self.entry_path(alias, key)
        leftover = None
        with contextlib.suppress(OSError):  # a folder of someone else's in a team cache
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tighten_folder(os.path.dirname(path))
        if (
            os.path.isdir(path)
            and not os.path.islink(path)
            and not os.listdir(path)
            and os.stat(path).st_uid == os.getuid()
        ):
            tighten_folder(path)
            return path, None  # an empty folder: made by Snakemake for the job's output
        if os.path.lexists(path):
            trash = f"{path}.stale-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            leftover = path
        os.makedirs(path)
        return path, leftover

    def commit(
        self, alias: str, key: str, result: dict[str, Any], provenance: dict[str, Any]
    ) -> CacheEntry:
        """Write the entry's records; the result file last, atomically: now it is trusted."""
        path = self.entry_path(alias, key)
        tighten(path)
        result = {"format": _FORMAT, "entry": path, **result}
        cm_state = {k: result.get(k) for k in ("new_env", "new_state", "version")}
        records = (
            (CM_STATE, cm_state),
            (PROVENANCE, provenance),
            (SAVED, result),
            (RESULT, result),
        )
        for name, data in records:
            tmp = os.path.join(path, f".{name}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _safe_mode(0o644, False))
            os.replace(tmp, os.path.join(path, name))
        return CacheEntry(alias, key, path, result)

    def restore_marker(self, alias: str, key: str, since: float) -> CacheEntry | None:
        """Put back the completion marker of an entry that was completed after ``since``
        (seconds since the epoch) and whose marker was then deleted: Snakemake deletes a
        job's existing output before running it, and a process sharing the cache may have
        completed the entry after Snakemake planned the job. An entry completed before
        ``since`` is not put back: its marker was deleted to rebuild it (``--forcerun``).
        Call with the lock held."""
        path = self.entry_path(alias, key)
        saved = os.path.join(path, SAVED)
        try:
            if os.path.exists(os.path.join(path, RESULT)) or os.path.getmtime(saved) < since:
                return None
        except OSError:
            return None
        tmp = os.path.join(path, f".{RESULT}.tmp")
        shutil.copyfile(saved, tmp)
        os.replace(tmp, os.path.join(path, RESULT))
        return self.lookup(alias, key)

    def discard(self, alias: str, key: str) -> None:
        """Remove the folder of a build that failed (call with the lock held)."""
        path = self.entry_path(alias, key)
        if os.path.lexists(path) and self._read_result(path) is None:
            shutil.rmtree(path, ignore_errors=True)

    def _folders(self, *, stale: bool = False) -> Iterator[tuple[str, str, str]]:
        """(alias, key, path) of every entry folder, complete or not, in order; with
        ``stale``, also the leftovers of replaced builds (``<key>.stale-*``)."""
        if not os.path.isdir(self.root):
            return
        for alias in sorted(os.listdir(self.root)):
            folder = os.path.join(self.root, alias)
            if not os.path.isdir(folder):
                continue
            for key in sorted(os.listdir(folder)):
                path = os.path.join(folder, key)
                if key.startswith(".") or (".stale-" in key and not stale):
                    continue
                if os.path.isdir(path):
                    yield alias, key, path

    def entries(self) -> list[CacheEntry]:
        """Every complete entry."""
        found: list[CacheEntry] = []
        for alias, key, path in self._folders():
            result = self._read_result(path)
            if result is not None:
                found.append(CacheEntry(alias, key, path, result))
        return found

    def incomplete(self) -> list[str]:
        """Folders without a completion marker (failed or running builds)."""
        return [path for _, _, path in self._folders(stale=True) if self._read_result(path) is None]

    def remove(self, entry: CacheEntry) -> None:
        with self.lock(entry.alias, entry.key):
            shutil.rmtree(entry.path, ignore_errors=True)

    @staticmethod
    def last_used(entry: CacheEntry) -> float:
        for name in (LAST_USED, RESULT):
            with contextlib.suppress(OSError):
                return os.path.getmtime(os.path.join(entry.path, name))
        return 0.0
