"""Links in script repositories: a path is followed only while it stays inside its repository.

CM repositories link between their own files, and such links are followed. A link that leads
outside the repository (a script folder that points at ``/home/user/secrets``, a ``run.sh``
that points at ``/bin/...``) is not: the index does not read through it and the runtime
neither imports nor runs it. A repository registered with ``--allow-external-links``, or every
repository while ``CMSM_ALLOW_EXTERNAL_LINKS=1`` is set, has its links followed wherever they
lead. "Inside" is decided on real paths (:func:`os.path.realpath`).

The index :func:`remember`\\ s each repository it opens, so the runtime, which only knows a
script's folder, can find the repository of a file and its setting.
"""

from __future__ import annotations

import os

from .._util.settings import name_of, settings
from ..errors import ExternalLinkRefused

__all__ = [
    "ENV_VAR",
    "allowed_by_env",
    "check_followed",
    "followable_link",
    "inside_repository",
    "outside_target",
    "refusal",
    "remember",
]

ENV_VAR = name_of("allow_external_links")

# the root as the repository names it -> (its real path, whether its links may leave it)
_REPOSITORIES: dict[str, tuple[str, bool]] = {}


def allowed_by_env() -> bool:
    """Whether ``CMSM_ALLOW_EXTERNAL_LINKS`` allows links out of every repository."""
    return settings.allow_external_links


def _within(path: str, root: str) -> bool:
    """Whether the normalised ``path`` is ``root`` or below it (no file access)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def inside_repository(path: str, root: str) -> bool:
    """Whether ``path``, with every link on the way followed, stays inside ``root``."""
    return _within(os.path.realpath(path), os.path.realpath(root))


def outside_target(path: str, root: str) -> str | None:
    """The real path ``path`` leads to when that is outside ``root``; None when inside."""
    real = os.path.realpath(path)
    return None if _within(real, os.path.realpath(root)) else real


def remember(root: str, *, allowed: bool) -> None:
    """Note the repository at ``root`` and whether its registration allows external links."""
    _REPOSITORIES[os.path.abspath(root)] = (os.path.realpath(root), allowed)


def _repository_of(path: str) -> tuple[str, str, bool] | None:
    """``(root, real root, allowed)`` of the remembered repository that holds ``path``."""
    best: tuple[str, str, bool] | None = None
    for root, (real_root, allowed) in _REPOSITORIES.items():
        if _within(path, root) and (best is None or len(root) > len(best[0])):
            best = (root, real_root, allowed)
    return best


def refusal(path: str, script: str | None = None) -> ExternalLinkRefused | None:
    """The error for following ``path``, or None when it may be followed.

    A path without links, a path outside every remembered repository, a path that stays inside
    its repository and a path of a repository that allows external links may be followed.
    """
    absolute = os.path.abspath(path)
    real = os.path.realpath(absolute)
    if real == absolute:
        return None
    found = _repository_of(absolute)
    if found is None:
        return None
    root, real_root, allowed = found
    if allowed or _within(real, real_root) or allowed_by_env():
        return None
    return ExternalLinkRefused(absolute, real, root=root, script=script)


def check_followed(path: str, script: str) -> None:
    """Raise :class:`ExternalLinkRefused` when ``path``, a file of ``script``, may not be
    followed (see :func:`refusal`)."""
    error = refusal(path, script)
    if error is not None:
        raise error


def followable_link(path: str) -> bool:
    """Whether the link ``path`` may be read: it belongs to a remembered repository and
    following it is allowed there. Links elsewhere are not read."""
    absolute = os.path.abspath(path)
    return _repository_of(absolute) is not None and refusal(absolute) is None
