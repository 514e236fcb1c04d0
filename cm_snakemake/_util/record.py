"""Value semantics for small record classes, without importing ``dataclasses`` or ``typing``.

The modules on the path of every command (``find`` most of all) avoid imports that pull in
``re``, ``typing`` or ``dataclasses``: together they cost more than the whole search. Their
records derive from :class:`Record`, which derives equality, hashing and ``repr`` from
``__slots__``. Records are treated as read-only once built.
"""

from __future__ import annotations

__all__ = ["Record"]


class Record:
    """Equality, hashing and repr over the fields named in ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"
