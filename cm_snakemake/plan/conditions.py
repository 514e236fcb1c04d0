"""Dependency conditions with CM's truthiness rules, evaluated three-valued.

``enable_if_env``/``skip_if_env`` are ANDs over keys, the ``*_any_env`` forms ORs
(docs/cm-behaviour.md §5.1, §5.2). One key matches according to the first applicable row:

* the expected list holds ``yes/on/true/1``: matches iff the value is present and not
  ``no/off/false/0/""``;
* it holds ``no/off/false/0``: matches iff the value is one of those or empty, *or the key is
  absent* (except in the ``*_any_env`` forms, where an absent key never matches);
* otherwise: matches iff the value (lowercased, stripped) is one of the expected values.

MLC also treats a value that still holds ``<<<...>>>`` as unset. With an :class:`Unknown`
value the answer is :data:`Tri.UNKNOWN`, and the dependency is left for run time to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from .._util.frozen import EMPTY, FrozenMap
from .penv import PEnv, Unknown

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..meta.model import Conditions, DepSpec

__all__ = ["EnvCondition", "Tri", "dep_enabled", "key_matches"]

_TRUE = {"yes", "on", "true", "1"}
_FALSE = {"no", "off", "false", "0"}


class Tri(Enum):
    """Three-valued truth."""

    FALSE = 0
    TRUE = 1
    UNKNOWN = 2

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.TRUE if value else Tri.FALSE

    def __invert__(self) -> Tri:
        return {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE}.get(self, Tri.UNKNOWN)


def _all(values: Iterable[Tri]) -> Tri:
    result = Tri.TRUE
    for value in values:
        if value is Tri.FALSE:
            return Tri.FALSE
        if value is Tri.UNKNOWN:
            result = Tri.UNKNOWN
    return result


def _any(values: Iterable[Tri]) -> Tri:
    result = Tri.FALSE
    for value in values:
        if value is Tri.TRUE:
            return Tri.TRUE
        if value is Tri.UNKNOWN:
            result = Tri.UNKNOWN
    return result


def key_matches(
    value: str | tuple[str, ...] | Unknown | None,
    expected: tuple[str, ...],
    *,
    any_form: bool = False,
    mlc: bool = False,
) -> Tri:
    """Whether one env key satisfies one condition entry."""
    if isinstance(value, Unknown):
        return Tri.UNKNOWN
    wanted = [e.strip().lower() for e in expected]
    if value is not None:
        text = value if isinstance(value, str) else str(list(value))
        actual = text.strip().lower()
        if mlc and "<<<" in actual:
            actual = ""
    else:
        actual = None
    if any(w in _TRUE for w in wanted):
        return Tri.of(actual is not None and actual not in _FALSE | {""})
    if any(w in _FALSE for w in wanted):
        if actual is None:
            return Tri.of(not any_form)
        return Tri.of(actual in _FALSE | {""})
    if actual is None:
        return Tri.of("" in wanted and not any_form)
    return Tri.of(actual in wanted)


def _over(
    cond: Mapping[str, tuple[str, ...]], env: PEnv, *, any_form: bool, mlc: bool
) -> list[Tri]:
    return [key_matches(env.get(k), v, any_form=any_form, mlc=mlc) for k, v in cond.items()]


@dataclass(frozen=True, slots=True)
class EnvCondition:
    """The four condition forms of one dependency, ``update_meta_if_env`` item or patch."""

    enable_if_env: Conditions = EMPTY
    enable_if_any_env: Conditions = EMPTY
    skip_if_env: Conditions = EMPTY
    skip_if_any_env: Conditions = EMPTY

    @classmethod
    def of(cls, dep: DepSpec) -> EnvCondition:
        return cls(dep.enable_if_env, dep.enable_if_any_env, dep.skip_if_env, dep.skip_if_any_env)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> EnvCondition:
        """The conditions of a raw mapping (other keys ignored), values read as meta does."""

        def read(key: str) -> Conditions:
            given = raw.get(key)
            if not isinstance(given, Mapping):
                return EMPTY
            result = {}
            for name, value in given.items():
                values = value if isinstance(value, list | tuple) else [value]
                result[str(name)] = tuple("" if v is None else str(v) for v in values)
            return FrozenMap(result)

        return cls(
            read("enable_if_env"),
            read("enable_if_any_env"),
            read("skip_if_env"),
            read("skip_if_any_env"),
        )

    def holds(self, env: PEnv, *, mlc: bool = False) -> Tri:
        """Every enable passes and no skip fires."""
        checks: list[Tri] = []
        if self.enable_if_env:
            checks.append(_all(_over(self.enable_if_env, env, any_form=False, mlc=mlc)))
        if self.enable_if_any_env:
            checks.append(_any(_over(self.enable_if_any_env, env, any_form=True, mlc=mlc)))
        if self.skip_if_env:
            checks.append(~_all(_over(self.skip_if_env, env, any_form=False, mlc=mlc)))
        if self.skip_if_any_env:
            checks.append(~_any(_over(self.skip_if_any_env, env, any_form=True, mlc=mlc)))
        return _all(checks)


def dep_enabled(dep: DepSpec, env: PEnv, *, fake_run: bool = False, mlc: bool = False) -> Tri:
    """Whether ``dep`` runs against ``env``: every enable passes and no skip fires."""
    if dep.skip_if_fake_run and fake_run:
        return Tri.FALSE
    return EnvCondition.of(dep).holds(env, mlc=mlc)
