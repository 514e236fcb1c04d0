"""The planner's provider over the script index: search, typed metas and file scans."""

from __future__ import annotations

from ..index.search import find_scripts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..index.scan import ScriptScan
    from ..index.scripts import ScriptEntry, ScriptIndex
    from ..meta.model import ScriptMeta
    from ..meta.tags import TagQuery

__all__ = ["IndexProvider"]


class IndexProvider:
    """Answers the planner's questions from a :class:`~cm_snakemake.index.scripts.ScriptIndex`."""

    def __init__(self, index: ScriptIndex) -> None:
        self.index = index

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]:
        return find_scripts(self.index, query, artifact=artifact)

    def meta(self, entry: ScriptEntry) -> ScriptMeta:
        return self.index.meta(entry)

    def scan(self, entry: ScriptEntry) -> ScriptScan:
        return self.index.scan(entry)
