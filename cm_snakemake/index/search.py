"""Finding scripts by tags, alias or uid with CM's rules (docs/cm-behaviour.md §2.3, §2.4).

1. Script tags are matched as sets: every positive tag present, no negative tag present.
2. An alias/uid (``alias``, ``uid``, ``alias,uid``, ``repo:alias``, wildcards) must match too.
3. A script survives only if it has every requested or excluded variation, as a plain key
   or through a dynamic ``prefix.#`` key.
4. Results are ordered by the meta's ``sort`` value, then by path.

Where nothing matches, the error says why and suggests close tags and scripts.
"""

from __future__ import annotations

from .._util.reporting import NullReporter, Reporter
from ..errors import AmbiguousScript, MetaError, NoScriptFound, Where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..meta.tags import TagQuery
    from .scripts import ScriptEntry, ScriptIndex

__all__ = ["ArtifactRef", "find_scripts", "has_variation", "is_uid", "select_script"]

_HEX = frozenset("0123456789abcdef")


def is_uid(text: str) -> bool:
    return len(text) == 16 and set(text.lower()) <= _HEX


def _glob_match(name: str, pattern: str) -> bool:
    """fnmatch for patterns with wildcards; plain equality (and no ``re`` import) otherwise."""
    if not any(c in pattern for c in "*?["):
        return name == pattern
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


class ArtifactRef:
    """A CM artifact reference: ``[repo:]alias``, ``uid``, ``alias,uid`` or ``uid,alias``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.repo: str | None = None
        rest = text
        if ":" in text:
            self.repo, rest = text.split(":", 1)
        parts = [p.strip() for p in rest.split(",") if p.strip()]
        uids = [p for p in parts if is_uid(p)]
        self.uid = uids[0].lower() if uids else None
        names = [p for p in parts if p not in uids]
        self.alias = names[0] if names else None

    def matches(self, entry: ScriptEntry) -> bool:
        if self.repo is not None and not _glob_match(entry.repo, self.repo):
            return False
        if self.uid is not None:  # a uid on both sides decides alone
            return entry.uid == self.uid
        return self.alias is None or _glob_match(entry.alias, self.alias)


def has_variation(variations: Sequence[str], name: str) -> bool:
    """Whether ``name`` is one of ``variations`` or matches a dynamic ``prefix.#`` among them."""
    if name in variations:
        return True
    if "." in name and not name.endswith("."):
        return name.split(".", 1)[0] + ".#" in variations
    return False


def describe_request(query: TagQuery, artifact: str | None) -> str:
    """A request as a person wrote it: ``repo:alias tags`` or the tags."""
    text = str(query)
    if artifact:
        return f"{artifact} {text}".strip()
    return text or "(all scripts)"


def find_scripts(
    index: ScriptIndex, query: TagQuery, *, artifact: str | None = None
) -> list[ScriptEntry]:
    """Return the scripts matching ``query`` (and ``artifact``) in CM's order.

    Raises :class:`NoScriptFound` with suggestions when nothing matches.
    """
    ref = ArtifactRef(artifact) if artifact else None
    if query.tags:  # start from the rarest wanted tag instead of every script
        pool = min((index.with_tag(t) for t in query.tags), key=len)
    else:
        pool = index.usable()
    found = [e for e in pool if (ref is None or ref.matches(e)) and query.matches(e.tag_set)]
    if not found:
        if ref is not None:
            for entry in index.broken():
                if ref.matches(entry):
                    raise MetaError(
                        Where(entry.path), f"script '{entry.alias}' cannot be read:\n{entry.error}"
                    )
        raise _no_match(index, query, artifact)
    wanted = [*query.variations, *query.excluded]
    kept = [e for e in found if all(has_variation(e.variations, v) for v in wanted)]
    if not kept:
        raise _no_variation(query, artifact, found, wanted)
    bundled = index.bundled_paths()
    # CM's order (sort, then path), with the bundled repository's scripts after every
    # registered repository's: a user's repository is never shadowed by ours
    # (docs/cm-behaviour.md §2.4)
    kept.sort(key=lambda e: (e.path.startswith(bundled) if bundled else False, e.sort, e.path))
    return kept


def select_script(
    index: ScriptIndex,
    query: TagQuery,
    *,
    artifact: str | None = None,
    unique: bool = False,
    reporter: Reporter | None = None,
) -> ScriptEntry:
    """Return the one script for a request.

    With ``unique`` an ambiguous request is an error listing the candidates; otherwise the
    first in CM's order is taken (as ``cm run --quiet`` does) and the choice is reported.
    """
    found = find_scripts(index, query, artifact=artifact)
    if len(found) > 1:
        if unique:
            raise AmbiguousScript(
                describe_request(query, artifact),
                [f"{e.alias}  ({e.repo}, sort {e.sort})" for e in found],
            )
        (reporter or NullReporter()).script_chosen(
            describe_request(query, artifact), found[0].name, [e.name for e in found[1:]]
        )
    return found[0]


def _no_match(index: ScriptIndex, query: TagQuery, artifact: str | None) -> NoScriptFound:
    import difflib

    known = index.all_tags()
    unknown = [t for t in query.tags if t not in known]
    close_tags: list[str] = []
    for tag in unknown:
        close_tags += [
            c for c in difflib.get_close_matches(tag, known, n=3, cutoff=0.7) if c not in close_tags
        ]
    if unknown:
        reason = (
            "unknown tag"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(f"'{t}'" for t in unknown)
        )
    elif artifact and not query.tags:
        reason = f"no script is called '{artifact}'"
    else:
        reason = "no script has all of the tags " + ",".join(query.tags)
        if query.not_tags:
            reason += " and none of " + ",".join(query.not_tags)
    close_scripts = _close_scripts(index, query, artifact)
    return NoScriptFound(
        describe_request(query, artifact),
        reason,
        close_tags=close_tags,
        close_scripts=close_scripts,
    )


def _close_scripts(index: ScriptIndex, query: TagQuery, artifact: str | None) -> list[str]:
    import difflib

    usable = index.usable()
    names = {e.alias: e for e in usable}
    probe = artifact or "-".join(query.tags)
    close = difflib.get_close_matches(probe, list(names), n=5, cutoff=0.6) if probe else []
    if len(query.tags) > 1:  # scripts that miss only one of the wanted tags
        want = set(query.tags)
        for entry in sorted(usable, key=lambda e: (e.sort, e.path)):
            if len(want - entry.tag_set) == 1 and entry.alias not in close:
                close.append(entry.alias)
    return close[:8]


def _no_variation(
    query: TagQuery, artifact: str | None, found: list[ScriptEntry], wanted: list[str]
) -> NoScriptFound:
    import difflib

    lines = []
    close: list[str] = []
    for entry in sorted(found, key=lambda e: (e.sort, e.path))[:8]:
        missing = [v for v in wanted if not has_variation(entry.variations, v)]
        shown = ", ".join(f"_{v}" for v in entry.variations[:20])
        more = f", ... ({len(entry.variations)} in all)" if len(entry.variations) > 20 else ""
        lines.append(f"{entry.alias} lacks _{', _'.join(missing)}; it has: {shown or 'none'}{more}")
        for name in missing:
            close += [
                f"_{c}" for c in difflib.get_close_matches(name, entry.variations, n=2, cutoff=0.7)
            ]
    reason = "no script with these tags has the variation(s) " + ", ".join(f"_{v}" for v in wanted)
    return NoScriptFound(
        describe_request(query, artifact),
        reason + "\n  " + "\n  ".join(lines),
        close_tags=list(dict.fromkeys(close)),
        hint='Run "cm-snakemake show script <alias>" to see a script\'s variations.',
    )
