"""``find``, ``list`` and ``show``: looking at scripts."""

from __future__ import annotations

from ..errors import EXIT_OK, UsageError
from ..index.scripts import ScriptEntry, ScriptIndex
from ..index.search import find_scripts, is_uid, select_script
from ..meta.tags import TagQuery
from .options import BOOL, MAPPING, PATH, TEXT, Command, Flag, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

    from ..index.repos import Registry
    from ..meta.model import ScriptMeta
    from .grammar import Args
    from .main import Context

__all__ = [
    "FIND",
    "INPUT_ARGUMENTS",
    "LIST",
    "REQUEST_ARGUMENTS",
    "SHOW",
    "InputOptions",
    "RequestOptions",
    "open_index",
    "request_from",
]

_MAX_BROKEN_SHOWN = 5


def _is_alias_uid(word: str) -> bool:
    """Whether ``word`` is ``alias,uid`` or ``uid,alias`` (a reference, not two tags)."""
    parts = word.split(",")
    return len(parts) == 2 and any(is_uid(p) for p in parts) and all(parts)


class RequestOptions(Options):
    """The flags of the commands that take a script request."""

    tags = Flag(TEXT, None, "the same as a tag list", metavar="TAGS")
    json = Flag(BOOL, False, "print the result as JSON")


class InputOptions(RequestOptions):
    """The flags of the commands that plan a request (``run``, ``plan``): any flag that is not
    their own is an input of the script, checked against what it accepts."""

    takes_inputs = True
    facts = Flag(
        PATH,
        None,
        "host facts to plan with (default: this machine's, kept in $CMSM_HOME/facts)",
        metavar="FILE",
    )
    no_facts = Flag(BOOL, False, "plan without host facts")
    quiet = Flag(BOOL, False, "accepted for CM compatibility (cm-snakemake never prompts)")

    @classmethod
    def parse(cls, args: Args) -> Self:
        """The flags, and the inputs with those that are mappings checked to be mappings."""
        from ..plan.inputs import MAPPING_INPUTS

        options = super().parse(args)
        for name in sorted(MAPPING_INPUTS & options._inputs.keys()):
            Flag(MAPPING, {}, "").named(name).read(args)  # --env=1: "--env needs a key"
        return options


INPUT_ARGUMENTS = (
    ("--env.KEY=VALUE", "set an env value for the script and its dependencies"),
    ("--NAME=VALUE", "an input the script maps to env through its input_mapping"),
    ("--version*=V", "version constraints (version, version_min, version_max, "
                     "version_max_usable), as with CM"),
    ("--adr.NAME.KEY=V", "patch the dependencies named NAME, at any depth (--ad.NAME.KEY=V: "
                         "direct dependencies only)"),
    ("--const.*, --state.*, --skip_cache, --path, ...", "the other inputs CM's engine reads"),
)  # fmt: skip

REQUEST_ARGUMENTS = (
    ("ALIAS", "a script alias, uid, alias,uid or repo:alias (wildcards * ? allowed)"),
    ('"TAGS"', "tags separated by spaces or commas: x (must have), -x (must not have), _v "
               "(variation), -_v (excluded variation)"),
)  # fmt: skip


def request_from(options: RequestOptions) -> tuple[TagQuery, str | None]:
    """Read a script request: ``[script] [ALIAS | "TAGS"] [--tags=...]``.

    As in CM, a positional argument with spaces (or commas) is a tag list; a single word is an
    alias, a uid, ``alias,uid`` or ``repo:alias``.
    """
    words = list(options.positional)
    if words and words[0] == "script":
        words.pop(0)
    tags: list[str] = []
    if options.tags:
        tags.append(options.tags)
    artifact = None
    for word in words:
        if " " in word or ("," in word and not _is_alias_uid(word)):
            tags.append(",".join(word.split()))
        elif artifact is None and not tags:
            artifact = word
        else:
            flag = options.flag_before(word)
            hint = 'Give one alias, or tags in quotes: "get python3 _shared".'
            if flag is not None:
                hint = (
                    f"If it is the value of --{flag}, write --{flag}={word}: a flag's "
                    "value goes in the same word, after '=' (CM's grammar)."
                )
            raise UsageError(f"unexpected argument '{word}'", hint=hint)
    return TagQuery.parse(tags), artifact


def open_index(ctx: Context, registry: Registry | None = None) -> ScriptIndex:
    """Open the index of all registered repositories and warn about unreadable scripts."""
    index = ScriptIndex.from_registry(registry, reporter=ctx.reporter)
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


def _find(options: RequestOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    found = find_scripts(open_index(ctx), query, artifact=artifact)
    if options.json:
        import json

        print(json.dumps([_entry_json(e) for e in found], indent=1), file=ctx.out)
    else:
        for entry in found:
            print(entry.path, file=ctx.out)
    return EXIT_OK


def _list(options: RequestOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    index = open_index(ctx)
    if str(query) or artifact:
        found = find_scripts(index, query, artifact=artifact)
    else:
        found = sorted(index.usable(), key=lambda e: (e.alias, e.repo))
    if options.json:
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


def _show(options: RequestOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    if not artifact and not str(query):
        raise UsageError("show needs a script", hint="Example: cm-snakemake show script detect-os")
    index = open_index(ctx)
    entry = select_script(index, query, artifact=artifact, unique=True)
    meta = index.meta(entry)
    if options.json:
        import json

        from ..meta.model import to_jsonable

        print(json.dumps(to_jsonable(meta), indent=1), file=ctx.out)
    else:
        print(describe(entry, meta), file=ctx.out)
    return EXIT_OK


class _FindOptions(RequestOptions):
    json = Flag(BOOL, False, "print the matches as JSON")


class _ListOptions(RequestOptions):
    json = Flag(BOOL, False, "print the list as JSON")


class _ShowOptions(RequestOptions):
    json = Flag(BOOL, False, "print the typed meta as JSON")


FIND = Command(
    "find", _find, _FindOptions,
    synopsis='script [ALIAS | "TAGS"]',
    about="Print the folder of every script that matches, ordered as CM orders them (meta "
          "'sort', then path).",
    arguments=REQUEST_ARGUMENTS,
)  # fmt: skip
LIST = Command(
    "list", _list, _ListOptions,
    synopsis='script [ALIAS | "TAGS"]',
    about="List every script (or the matching ones) with its tags and repository.",
    arguments=REQUEST_ARGUMENTS,
)  # fmt: skip
SHOW = Command(
    "show", _show, _ShowOptions,
    synopsis='script ALIAS | "TAGS"',
    about="Show one script: identity, tags, variations with their groups and defaults, "
          "dependencies, input mapping, exported keys and any warnings about its meta. A "
          "request matching several scripts is an error that lists them.",
    arguments=REQUEST_ARGUMENTS,
)  # fmt: skip
