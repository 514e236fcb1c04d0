"""``find``, ``list`` and ``show``: looking at scripts."""

from __future__ import annotations

from ..errors import EXIT_OK, UsageError
from ..index.scripts import ScriptEntry, ScriptIndex
from ..index.search import find_scripts, is_uid, select_script
from ..meta.tags import TagQuery
from .main import Command, Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..meta.model import ScriptMeta
    from .grammar import Args

__all__ = ["FIND", "LIST", "SHOW", "open_index", "request_from"]

_MAX_BROKEN_SHOWN = 5


def _is_alias_uid(word: str) -> bool:
    """Whether ``word`` is ``alias,uid`` or ``uid,alias`` (a reference, not two tags)."""
    parts = word.split(",")
    return len(parts) == 2 and any(is_uid(p) for p in parts) and all(parts)


def request_from(args: Args) -> tuple[TagQuery, str | None]:
    """Read a script request: ``[script] [ALIAS | "TAGS"] [--tags=...]``.

    As in CM, a positional argument with spaces (or commas) is a tag list; a single word is an
    alias, a uid, ``alias,uid`` or ``repo:alias``.
    """
    words = list(args.positional)
    if words and words[0] == "script":
        words.pop(0)
    tags: list[str] = []
    flag = args.take_str("tags")
    if flag:
        tags.append(flag)
    artifact = None
    for word in words:
        if " " in word or ("," in word and not _is_alias_uid(word)):
            tags.append(",".join(word.split()))
        elif artifact is None and not tags:
            artifact = word
        else:
            raise UsageError(
                f"unexpected argument '{word}'",
                hint='Give one alias, or tags in quotes: "get python3 _shared".',
            )
    return TagQuery.parse(tags), artifact


def open_index(ctx: Context) -> ScriptIndex:
    """Open the index of all registered repositories and warn about unreadable scripts."""
    index = ScriptIndex.from_registry(reporter=ctx.reporter)
    broken = index.broken()
    for entry in broken[:_MAX_BROKEN_SHOWN]:
        ctx.reporter.warning(f"script '{entry.alias}' is skipped: {entry.error}")
    if len(broken) > _MAX_BROKEN_SHOWN:
        ctx.reporter.warning(
            f"{len(broken) - _MAX_BROKEN_SHOWN} more scripts are skipped; "
            "run 'cm-snakemake repo check' to see them all"
        )
    return index


def _entry_json(entry: ScriptEntry) -> dict[str, object]:
    return {
        "alias": entry.alias,
        "uid": entry.uid,
        "repo": entry.repo,
        "path": entry.path,
        "tags": list(entry.tags),
        "sort": entry.sort,
    }


def _find(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    as_json = args.take_bool("json")
    args.check_consumed()
    found = find_scripts(open_index(ctx), query, artifact=artifact)
    if as_json:
        import json

        print(json.dumps([_entry_json(e) for e in found], indent=1), file=ctx.out)
    else:
        for entry in found:
            print(entry.path, file=ctx.out)
    return EXIT_OK


def _list(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    as_json = args.take_bool("json")
    args.check_consumed()
    index = open_index(ctx)
    if str(query) or artifact:
        found = find_scripts(index, query, artifact=artifact)
    else:
        found = sorted(index.usable(), key=lambda e: (e.alias, e.repo))
    if as_json:
        import json

        print(json.dumps([_entry_json(e) for e in found], indent=1), file=ctx.out)
        return EXIT_OK
    width = max((len(e.alias) for e in found), default=0)
    for entry in found:
        print(f"{entry.alias:<{width}}  {','.join(entry.tags)}  [{entry.repo}]", file=ctx.out)
    return EXIT_OK


def _dep_lines(meta: ScriptMeta) -> list[str]:
    lines = []
    for list_name in ("deps", "prehook_deps", "posthook_deps", "post_deps"):
        for dep in getattr(meta, list_name):
            extra = []
            if dep.names:
                extra.append("names=" + ",".join(dep.names))
            for cond in ("enable_if_env", "enable_if_any_env", "skip_if_env", "skip_if_any_env"):
                value = getattr(dep, cond)
                if value:
                    extra.append(f"{cond}={dict(value)}")
            suffix = f"  ({'; '.join(extra)})" if extra else ""
            lines.append(f"  {list_name}: {dep.tags}{suffix}")
    return lines


def describe(entry: ScriptEntry, meta: ScriptMeta) -> str:
    """Return a person-readable summary of a script's meta."""
    lines = [
        f"script:   {meta.alias} ({meta.uid})",
        f"repo:     {entry.repo}",
        f"path:     {meta.path}",
        f"dialect:  {meta.dialect.value}",
        f"tags:     {','.join(meta.tags)}",
        f"cached:   {'yes' if meta.cache else 'no'}"
        + (" (can be forced)" if meta.can_force_cache else ""),
    ]
    if meta.default_version:
        lines.append(f"default version: {meta.default_version}")
    if meta.versions:
        lines.append(f"versions: {', '.join(meta.versions)}")
    groups = meta.groups()
    if meta.variations:
        lines.append("variations:")
        for group, members in groups.items():
            shown = [
                f"_{m}" + (" (default)" if meta.variations[m].is_default else "") for m in members
            ]
            lines.append(f"  group {group}: {', '.join(shown)}")
        free = [v for v in meta.variations.values() if v.group is None]
        if free:
            lines.append("  other: " + ", ".join(f"_{v.name}" for v in free))
        if meta.default_variation:
            lines.append(f"  default_variation: _{meta.default_variation}")
    deps = _dep_lines(meta)
    if deps:
        lines.append("dependencies:")
        lines += deps
    if meta.input_mapping:
        lines.append("input mapping (flag -> env):")
        lines += [f"  --{k} -> {v}" for k, v in meta.input_mapping.items()]
    if meta.new_env_keys:
        lines.append(f"exports: {', '.join(meta.new_env_keys)}")
    if entry.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in entry.warnings]
    return "\n".join(lines)


def _show(args: Args, ctx: Context) -> int:
    query, artifact = request_from(args)
    as_json = args.take_bool("json")
    args.check_consumed()
    if not artifact and not str(query):
        raise UsageError("show needs a script", hint="Example: cm-snakemake show script detect-os")
    index = open_index(ctx)
    entry = select_script(index, query, artifact=artifact, unique=True)
    meta = index.meta(entry)
    if as_json:
        import json

        from ..meta.model import to_jsonable

        print(json.dumps(to_jsonable(meta), indent=1), file=ctx.out)
    else:
        print(describe(entry, meta), file=ctx.out)
    return EXIT_OK


_REQUEST_HELP = """\
  ALIAS            a script alias, uid, alias,uid or repo:alias (wildcards * ? allowed)
  "TAGS"           tags separated by spaces or commas: x (must have), -x (must not have),
                   _v (variation), -_v (excluded variation)
  --tags=TAGS      the same as a tag list"""

FIND = Command(
    _find,
    f"""usage: cm-snakemake find script [ALIAS | "TAGS"] [--tags=TAGS] [--json]

Print the folder of every script that matches, ordered as CM orders them (meta 'sort',
then path).

{_REQUEST_HELP}
  --json           print the matches as JSON""",
)
LIST = Command(
    _list,
    f"""usage: cm-snakemake list script [ALIAS | "TAGS"] [--tags=TAGS] [--json]

List every script (or the matching ones) with its tags and repository.

{_REQUEST_HELP}
  --json           print the list as JSON""",
)
SHOW = Command(
    _show,
    f"""usage: cm-snakemake show script ALIAS | "TAGS" [--json]

Show one script: identity, tags, variations with their groups and defaults, dependencies,
input mapping, exported keys and any warnings about its meta. A request matching several
scripts is an error that lists them.

{_REQUEST_HELP}
  --json           print the typed meta as JSON""",
)
