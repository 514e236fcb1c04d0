"""CM's tag grammar: ``get,python3,-conda,_shared,-_venv`` split into its four kinds.

* ``x``   a script tag that must be present;
* ``-x``  a script tag that must be absent;
* ``_x``  a variation to select;
* ``-_x`` (or ``_-x``) a variation to exclude.
"""

from __future__ import annotations

from .._util.record import Record
from ..errors import TagConflict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["TagQuery", "split_tags"]


def split_tags(text: str | Iterable[str]) -> list[str]:
    """Split a comma-separated tag string (or several) into tags, dropping blanks.

    Spaces are not separators here: a dynamic variation value may contain one. The command
    line turns a space-separated request into commas itself, as CM does.
    """
    parts = [text] if isinstance(text, str) else list(text)
    return [t.strip() for p in parts for t in p.split(",") if t.strip()]


class TagQuery(Record):
    """A parsed request. Order is kept: variation order matters to CM."""

    __slots__ = ("excluded", "not_tags", "tags", "variations")

    def __init__(
        self,
        tags: tuple[str, ...] = (),
        not_tags: tuple[str, ...] = (),
        variations: tuple[str, ...] = (),
        excluded: tuple[str, ...] = (),
    ) -> None:
        self.tags = tags
        self.not_tags = not_tags
        self.variations = variations
        self.excluded = excluded

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> TagQuery:
        """Parse tags; raises :class:`TagConflict` if one is asked for and against."""
        tags: list[str] = []
        not_tags: list[str] = []
        variations: list[str] = []
        excluded: list[str] = []
        for tag in split_tags(text):
            if tag.startswith(("-_", "_-")):
                _add(excluded, tag[2:])
            elif tag.startswith("_"):
                _add(variations, tag[1:])
            elif tag.startswith("-"):
                _add(not_tags, tag[1:])
            else:
                _add(tags, tag)
        for wanted, unwanted, mark in ((tags, not_tags, ""), (variations, excluded, "_")):
            for tag in wanted:
                if tag in unwanted:
                    raise TagConflict(mark + tag)
        return cls(tuple(tags), tuple(not_tags), tuple(variations), tuple(excluded))

    def __str__(self) -> str:
        parts = [*self.tags, *(f"-{t}" for t in self.not_tags)]
        parts += [f"_{v}" for v in self.variations] + [f"-_{v}" for v in self.excluded]
        return ",".join(parts)

    def matches(self, script_tags: frozenset[str]) -> bool:
        """CM's ``tags_matched``: all positive tags present, no negative tag present."""
        return all(t in script_tags for t in self.tags) and not any(
            t in script_tags for t in self.not_tags
        )


def _add(bucket: list[str], tag: str) -> None:
    if tag and tag not in bucket:
        bucket.append(tag)
