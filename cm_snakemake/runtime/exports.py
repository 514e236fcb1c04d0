"""The export filter: which env keys a script returns to its caller (``new_env_keys``).

Patterns are exact keys, fnmatch wildcards (``CM_PYTHON_*``, ``+PATH``) or ``<<<VAR>>>``
indirections that name the key held in ``env[VAR]``. An empty pattern list exports nothing:
CM computes no automatic difference, and neither do we.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["expand_placeholders", "select_keys"]

V = TypeVar("V")  # Env value.
_PLACEHOLDER = re.compile(r"<<<([^<>]+)>>>")


def expand_placeholders(text: str, env: Mapping[str, object]) -> str:
    """Replace each ``<<<VAR>>>`` by ``str(env[VAR])``; unknown ones are left as they are."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(env[name]) if name in env else match.group(0)

    return _PLACEHOLDER.sub(sub, text) if "<<<" in text else text


def select_keys(env: Mapping[str, V], patterns: Iterable[str]) -> dict[str, V]:
    """Return the items of ``env`` whose key matches one of ``patterns``, in ``env`` order."""
    exact: set[str] = set()
    wild: list[str] = []
    for raw in patterns:
        pattern = expand_placeholders(raw, env) if "<<<" in raw else raw
        if "<<<" in pattern:
            continue  # an indirection to a key that is not set exports nothing
        if any(c in pattern for c in "*?["):
            wild.append(pattern)
        else:
            exact.add(pattern)
    return {
        k: v for k, v in env.items() if k in exact or any(fnmatch.fnmatchcase(k, p) for p in wild)
    }
