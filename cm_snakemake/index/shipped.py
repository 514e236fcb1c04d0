"""The files a repository ships: what a script's files digest covers besides its code.

Scripts write into their own folders (``generate-mlperf-inference-user-conf`` writes a new
``tmp/<uuid>.conf`` on every run), so hashing every file there would give a script a new key
after each run. A script's meaning is its meta, its code and the files it ships; the digest
(``scan.py``) covers the meta by meaning, always the code (``customize.py``, Python modules,
native scripts), and of the other files only those the repository ships:

* in a git checkout, the files in git's index (``git ls-files``): what a clone or pull
  brings;
* otherwise, the files present when the repository was registered (``repo add`` writes
  their list to ``$CMSM_HOME/manifests/``; ``repo rm`` and ``repo add`` again refresh it);
* a repository with neither (the bundled one, one registered by an older version): every
  file except ``tmp-*`` names.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

__all__ = ["manifest_path", "shipped_files", "write_manifest"]


def manifest_path(home: str, root: str) -> str:
    """Where the registration manifest of the repository at ``root`` lives."""
    name = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:24]
    return os.path.join(home, "manifests", f"{name}.txt")


def _listing(root: str) -> list[str]:
    found: list[str] = []
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__"))
        rel = os.path.relpath(base, root)
        found.extend(os.path.normpath(os.path.join(rel, n)) for n in sorted(names))
    return found


def write_manifest(home: str, root: str) -> str:
    """Record the files of the repository at ``root`` as registered; return the file."""
    path = manifest_path(home, root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(_listing(root)) + "\n")
    os.replace(tmp, path)
    return path


def _git_files(root: str) -> frozenset[str] | None:
    if not os.path.exists(os.path.join(root, ".git")):
        return None  # not the top of a work tree: a subfolder of one counts as not in git
    try:
        done = subprocess.run(
            ["git", "-C", root, "ls-files", "-z"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    names = done.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return frozenset(os.path.normpath(n) for n in names if n)


def shipped_files(home: str | None, root: str) -> frozenset[str] | None:
    """Paths (relative to ``root``) the repository ships, or None when it says nothing."""
    found = _git_files(root)
    if found is not None or home is None:
        return found
    try:
        with open(manifest_path(home, root), encoding="utf-8") as fh:
            return frozenset(line for line in fh.read().splitlines() if line)
    except OSError:
        return None
