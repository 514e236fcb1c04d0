"""A read-only mapping that pickles, compares and hashes like a value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

__all__ = ["EMPTY", "FrozenMap", "freeze", "thaw"]

K = TypeVar("K")  # Key.
V = TypeVar("V")  # Value.


class FrozenMap(dict[K, V]):
    """A ``dict`` whose contents cannot change after construction.

    A ``dict`` subclass (rather than ``types.MappingProxyType``) so that it pickles, prints
    and serialises to JSON like the dict it is.
    """

    __slots__ = ("_hash",)

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("FrozenMap is read-only")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = __ior__ = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def __reduce__(self) -> Any:
        return (self.__class__, (dict(self),))

    def __copy__(self) -> FrozenMap[K, V]:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenMap[K, V]:
        return self


EMPTY: FrozenMap[Any, Any] = FrozenMap()


def freeze(value: Any) -> Any:
    """Return ``value`` with every dict turned into a FrozenMap and every list into a tuple."""
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Return a mutable deep copy of ``value`` (FrozenMap → dict, tuple → list)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
