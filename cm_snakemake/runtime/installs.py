"""One install at a time into a Python that several jobs share.

The corpora's ``get-generic-python-lib`` (CM and MLC) pip-installs into the Python its
``get-python3`` dependency found, with no lock of its own. Two Snakemake jobs that install into
the same Python at once (two requests run side by side, each with its own node for
``_numpy``) make pip uninstall and install over each other, and one of them crashes. So a run
of such a script holds an exclusive lock per Python, from its ``preprocess`` (where it
installs) to its ``postprocess``; the lock file is ``<cache root>/.locks/python-<digest>.lock``,
beside the cache that the jobs share. A script run inside one that holds the lock (a nested
install of the same Python) does not wait for itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import TYPE_CHECKING

from ..cache.store import file_lock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = ["SHARED_PYTHON_INSTALLERS", "python_install_lock"]

SHARED_PYTHON_INSTALLERS = frozenset({"get-generic-python-lib"})
_held: dict[str, int] = {}  # lock path -> depth held by this process


def _python_of(env: Mapping[str, object], prefix: str) -> str:
    for key in (f"{prefix}PYTHON_BIN_WITH_PATH", "CM_PYTHON_BIN_WITH_PATH",
                "MLC_PYTHON_BIN_WITH_PATH"):  # fmt: skip
        value = env.get(key)
        if isinstance(value, str) and value:
            return os.path.realpath(value)
    return "python3"


@contextlib.contextmanager
def python_install_lock(
    alias: str,
    env: Mapping[str, object],
    prefix: str,
    cache_root: str,
    *,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the install lock of the Python in ``env`` if ``alias`` installs into it."""
    if alias not in SHARED_PYTHON_INSTALLERS:
        yield
        return
    digest = hashlib.sha256(_python_of(env, prefix).encode()).hexdigest()[:16]
    folder = os.path.join(cache_root, ".locks")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"python-{digest}.lock")
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    with file_lock(path, on_wait=on_wait):
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
