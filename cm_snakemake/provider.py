"""The planner's provider over the script index: search, typed metas and file scans."""

from __future__ import annotations

from .search import find_scripts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cache import CacheStore
    from .index import ScriptEntry, ScriptIndex
    from .meta import ScriptMeta
    from .scan import ScriptScan
    from .tags import TagQuery

__all__ = ["CachePreferringProvider", "IndexProvider"]


class IndexProvider:
    """Answers the planner's questions from a :class:`~cm_snakemake.index.ScriptIndex`."""

    def __init__(self, index: ScriptIndex) -> None:
        self.index = index

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]:
        return find_scripts(self.index, query, artifact=artifact)

    def meta(self, entry: ScriptEntry) -> ScriptMeta:
        return self.index.meta(entry)

    def scan(self, entry: ScriptEntry) -> ScriptScan:
        return self.index.scan(entry)


class CachePreferringProvider(IndexProvider):
    """At run time CM prefers, among scripts matching ambiguous tags, those that already have
    a cache entry (cm-semantics §1.4 step 6.2); this provider does the same."""

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
