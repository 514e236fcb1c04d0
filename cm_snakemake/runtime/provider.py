"""The runtime's provider: CM's preference, at run time, for scripts that have cache entries."""

from __future__ import annotations

from ..plan.provider import IndexProvider

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cache.store import CacheStore
    from ..index.scripts import ScriptEntry, ScriptIndex
    from ..meta.tags import TagQuery

__all__ = ["CachePreferringProvider"]


class CachePreferringProvider(IndexProvider):
    """At run time CM prefers, among scripts matching ambiguous tags, those that already have
    a cache entry (docs/cm-behaviour.md §2.5); this provider does the same."""

    def __init__(self, index: ScriptIndex, cache: CacheStore) -> None:
        super().__init__(index)
        self.cache = cache

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]:
        found = super().find(query, artifact)
        if len(found) > 1:
            cached = [e for e in found if self.cache.has_entries(e.alias)]
            if cached:
                found = [*cached, *(e for e in found if e not in cached)]
        return found
