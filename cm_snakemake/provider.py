"""The planner's provider over the script index: search, typed metas and file scans."""

from __future__ import annotations

from .scan import ScriptScan, scan_script
from .search import find_scripts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .index import ScriptEntry, ScriptIndex
    from .meta import ScriptMeta
    from .tags import TagQuery

__all__ = ["IndexProvider"]


class IndexProvider:
    """Answers the planner's questions from a :class:`~cm_snakemake.index.ScriptIndex`."""

    def __init__(self, index: ScriptIndex) -> None:
        self.index = index
        self._scans: dict[str, ScriptScan] = {}

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]:
        return find_scripts(self.index, query, artifact=artifact)

    def meta(self, entry: ScriptEntry) -> ScriptMeta:
        return self.index.meta(entry)

    def scan(self, entry: ScriptEntry) -> ScriptScan:
        found = self._scans.get(entry.path)
        if found is None:
            found = self._scans[entry.path] = scan_script(entry.path)
        return found
