"""The partially known env of partial evaluation.

During planning every env key is in one of three states:

* **known**: its value is decided (user input, meta and variation env, input mapping, const,
  host facts, the export of a planned dependency whose value is decided);
* **unknown**: only run time decides it (what ``preprocess``, the native script,
  ``postprocess`` or an unplanned dependency may write). An :class:`Unknown` says where the
  value will come from, so that keys built from it stay deterministic;
* **absent**: not set.

Writes whose key names are not known in advance (``CM_PYTHON_*`` exports, a native script
that may write anything to ``tmp-run-env.out``) are recorded as wildcard patterns: every key
they match becomes unknown until a later known write.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..meta.model import EnvValue

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PEnv", "PValue", "Unknown", "expand", "live_env", "plain_env"]

_PLACEHOLDER = re.compile(r"<<<([^<>]+)>>>")


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value that only run time decides; ``source`` says what will write it."""

    source: str

    def __str__(self) -> str:
        return f"<unknown: {self.source}>"


PValue = EnvValue | Unknown


class PEnv:
    """An env whose values may be unknown, with wildcard writes of unknown keys."""

    __slots__ = ("_values", "_wild")

    def __init__(
        self,
        values: Mapping[str, PValue] | None = None,
        wild: tuple[tuple[str, Unknown], ...] = (),
    ) -> None:
        self._values: dict[str, PValue] = dict(values or {})
        self._wild: list[tuple[str, Unknown]] = list(wild)

    def copy(self) -> PEnv:
        return PEnv(self._values, tuple(self._wild))

    def get(self, key: str) -> PValue | None:
        """Return the value, an :class:`Unknown`, or None when the key is surely absent."""
        if key in self._values:
            return self._values[key]
        for pattern, unknown in reversed(self._wild):
            if fnmatch.fnmatchcase(key, pattern):
                return unknown
        return None

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def set(self, key: str, value: PValue) -> None:
        self._values[key] = value

    def update(self, values: Mapping[str, PValue]) -> None:
        self._values.update(values)

    def setdefault(self, key: str, value: PValue) -> None:
        """CM's ``default_env``: fill a key only if it is absent (unknown stays unknown)."""
        current = self.get(key)
        if current is None:
            self._values[key] = value
        elif isinstance(current, Unknown) and key not in self._values:
            self._values[key] = Unknown(f"{current.source}, else the default")

    def pop(self, key: str) -> PValue | None:
        return self._values.pop(key, None)

    def write_unknown(self, pattern: str, unknown: Unknown) -> None:
        """Record that keys matching ``pattern`` may be written with values run time decides."""
        for key in self._values:
            if fnmatch.fnmatchcase(key, pattern):
                self._values[key] = unknown
        self._wild.append((pattern, unknown))

    def keys(self) -> list[str]:
        """Keys with a known or unknown value (wildcard writes are not enumerable)."""
        return list(self._values)

    def items(self) -> list[tuple[str, PValue]]:
        return list(self._values.items())

    @property
    def wildcards(self) -> tuple[tuple[str, Unknown], ...]:
        return tuple(self._wild)

    def known(self) -> dict[str, EnvValue]:
        """The keys whose values are decided (and not shadowed by a later wildcard write)."""
        return {k: v for k, v in self._values.items() if not isinstance(v, Unknown)}

    def matching(self, pattern: str) -> list[str]:
        head = pattern[:-1]
        if pattern.endswith("*") and not any(c in head for c in "*?["):
            return [k for k in self._values if k.startswith(head)]
        return [k for k in self._values if fnmatch.fnmatchcase(k, pattern)]

    def wild_may_match(self, pattern: str) -> Unknown | None:
        """Return the latest wildcard write that may produce a key matching ``pattern``."""
        for wild, unknown in reversed(self._wild):
            if _patterns_overlap(wild, pattern):
                return unknown
        return None


def _patterns_overlap(a: str, b: str) -> bool:
    """Whether two fnmatch patterns may match a common key (conservative: prefix test)."""

    def prefix(p: str) -> str:
        cut = min((p.index(c) for c in "*?[" if c in p), default=len(p))
        return p[:cut]

    pa, pb = prefix(a), prefix(b)
    return pa.startswith(pb) or pb.startswith(pa)


def expand(text: str, env: PEnv) -> str | Unknown:
    """Expand ``<<<VAR>>>`` placeholders from ``env``.

    A placeholder whose key is absent is left as it is (CM's rule); one whose value is unknown
    makes the whole result unknown.
    """
    if "<<<" not in text:
        return text
    unknown: Unknown | None = None

    def sub(match: re.Match[str]) -> str:
        nonlocal unknown
        value = env.get(match.group(1))
        if value is None:
            return match.group(0)
        if isinstance(value, Unknown):
            unknown = value
            return match.group(0)
        return value if isinstance(value, str) else ",".join(value)

    result = _PLACEHOLDER.sub(sub, text)
    return unknown if unknown is not None else result


def live_env(values: Mapping[str, Any]) -> PEnv:
    """A run-time env (every value known) as a planning env, to decide with the planner's
    rules: list values as tuples, other values as text."""
    return PEnv(
        {
            k: tuple(str(x) for x in v)
            if isinstance(v, list | tuple)
            else ("" if v is None else v if isinstance(v, str) else str(v))
            for k, v in values.items()
        }
    )


def plain_env(env: PEnv) -> dict[str, Any]:
    """The known values of ``env`` as a run-time env: list values as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in env.known().items()}
