"""Accelerator files: plain data saved with ``marshal``, written atomically, never trusted blindly.

``marshal`` is built into the interpreter: reading a snapshot imports nothing, which keeps a
warm start well under the cost of importing ``pickle`` or ``json`` (both pull in ``re``).
A snapshot that is missing, unreadable or of another format is simply absent: callers
rebuild what it held from the source files.
"""

from __future__ import annotations

import contextlib
import marshal
import os

__all__ = ["file_signature", "load_snapshot", "save_snapshot"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def load_snapshot(path: str, tag: str) -> object | None:
    """Return the data saved under ``tag`` in ``path``, or None if there is none usable."""
    try:
        with open(path, "rb") as fh:
            data: object = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, tuple) or len(data) != 2 or data[0] != tag:
        return None
    result: object = data[1]
    return result


def save_snapshot(path: str, tag: str, data: object) -> str | None:
    """Save ``data`` atomically; return None, or the reason it could not be saved."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            marshal.dump((tag, data), fh)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return getattr(exc, "strerror", None) or str(exc)
    return None


def file_signature(folder: str, names: Iterable[str]) -> tuple[tuple[str, int, int, int], ...]:
    """Return ``(name, size, mtime_ns, inode)`` for each of ``names`` that exists in ``folder``.

    Any edit, replacement or removal of one of the files changes the signature.
    """
    sig = []
    for name in names:
        try:
            st = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        sig.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sig)
