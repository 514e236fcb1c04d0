"""``KeyedDict``: a dict that remembers where each key was written (no YAML import)."""

from __future__ import annotations

from typing import Any

from ..errors import Where

__all__ = ["KeyedDict"]


class KeyedDict(dict[str, Any]):
    """A dict that remembers the file and line where each of its keys was written."""

    __slots__ = ("lines", "path")

    def __init__(self, path: str, *args: Any) -> None:
        super().__init__(*args)
        self.path = path
        self.lines: dict[str, Where] = {}

    def where(self, key: str | None = None) -> Where:
        """Return the place of ``key`` (or of the mapping itself when unknown)."""
        if key is not None and key in self.lines:
            return self.lines[key]
        return Where(self.path)

    def __reduce__(self) -> Any:  # pickle as a plain dict: positions are for messages only
        return (dict, (dict(self),))
