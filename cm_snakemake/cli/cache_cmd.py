"""``cache list|show|rm|gc``: the cache store."""

from __future__ import annotations

import json
import shutil
import time

from ..cache.store import CacheEntry, CacheStore
from ..errors import EXIT_OK, UsageError
from ..meta.tags import split_tags
from .options import BOOL, NUMBER, PATH, TEXT, Command, Flag, Group, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["CACHE"]


class _CacheOptions(Options):
    cache_dir = Flag(PATH, None, "use another cache root", metavar="DIR")


class _Selecting(_CacheOptions):
    tags = Flag(
        TEXT,
        None,
        "entries of these scripts (aliases) or variations (_v)",
        metavar="ALIAS,_VARIATION",
    )


class _ListOptions(_Selecting):
    json = Flag(BOOL, False, "print the entries as JSON")


class _GcOptions(_CacheOptions):
    older_than = Flag(NUMBER, 30.0, "remove entries not used for this many days", metavar="DAYS")
    dry_run = Flag(BOOL, False, "only say what would be removed")


def _selected(store: CacheStore, options: _Selecting) -> list[CacheEntry]:
    """Entries named by KEY (a prefix is enough) or by --tags (aliases or variations)."""
    tags = split_tags(options.tags or "")
    keys = list(options.positional)
    found = []
    for entry in store.entries():
        if keys and not any(entry.key.startswith(k) for k in keys):
            continue
        names = {entry.alias, *(f"_{v}" for v in entry.result.get("variations", []))}
        script = str(entry.result.get("script", ""))
        names.add(script.split(":")[-1])
        if tags and not all(t in names for t in tags):
            continue
        found.append(entry)
    return found


def _list(options: _ListOptions, ctx: Context) -> int:
    store = CacheStore(options.cache_dir)
    entries = _selected(store, options)
    if options.json:
        rows = [{"alias": e.alias, "key": e.key, "path": e.path, **e.result} for e in entries]
        print(json.dumps(rows, indent=1, default=str), file=ctx.out)
        return EXIT_OK
    for e in entries:
        variations = ",".join(f"_{v}" for v in e.result.get("variations", []))
        version = e.result.get("version") or ""
        print(f"{e.key[:12]}  {e.alias} {variations} {version}".rstrip(), file=ctx.out)
    for path in store.incomplete():
        print(f"incomplete (a failed, killed or running build): {path}", file=ctx.out)
    return EXIT_OK


def _show(options: _Selecting, ctx: Context) -> int:
    entries = _selected(CacheStore(options.cache_dir), options)
    if len(entries) != 1:
        raise UsageError(
            f"'cache show' needs exactly one entry; {len(entries)} match",
            hint="Give a key (or a longer prefix of it); 'cm-snakemake cache list' shows them.",
        )
    entry = entries[0]
    print(json.dumps({"path": entry.path, **entry.result}, indent=1, default=str), file=ctx.out)
    return EXIT_OK


def _rm(options: _Selecting, ctx: Context) -> int:
    if not options.positional and not options.tags:
        raise UsageError("cache rm needs a KEY or --tags=...", hint=CACHE.help_for(["rm"]))
    store = CacheStore(options.cache_dir)
    entries = _selected(store, options)
    for entry in entries:
        store.remove(entry)
        print(f"removed {entry.path}", file=ctx.out)
    if not entries:
        print("no matching entry", file=ctx.out)
    return EXIT_OK


def _gc(options: _GcOptions, ctx: Context) -> int:
    if options.positional:
        raise UsageError(
            f"cache gc takes no KEY ('{options.positional[0]}')", hint=CACHE.help_for(["gc"])
        )
    store = CacheStore(options.cache_dir)
    dry_run = options.dry_run
    limit = time.time() - options.older_than * 86400
    victims = [e for e in store.entries() if store.last_used(e) < limit]
    for entry in victims:
        print(
            f"{'would remove' if dry_run else 'removed'} {entry.path} "
            f"(last used {time.strftime('%Y-%m-%d', time.gmtime(store.last_used(entry)))})",
            file=ctx.out,
        )
        if not dry_run:
            store.remove(entry)
    for path in store.incomplete():
        alias, key = path.rstrip("/").split("/")[-2:]
        with store.lock(alias, key):  # not while another process is still building it
            if path in store.incomplete():
                print(f"{'would remove' if dry_run else 'removed'} incomplete {path}", file=ctx.out)
                if not dry_run:
                    shutil.rmtree(path, ignore_errors=True)
    return EXIT_OK


CACHE = Group(
    "cache",
    about="""The cache store holds one folder per cached script run, named by the content key of
its plan node: <root>/<alias>/<key>/ (root: $CMSM_CACHE, default $CMSM_HOME/cache).""",
    actions=[
        Command("cache list", _list, _ListOptions, synopsis="[KEY ...]",
                about="complete entries (key prefix, script, variations, version), then "
                "folders of builds that did not finish"),
        Command("cache show", _show, _Selecting, synopsis="KEY",
                about="an entry's exports and record (a unique key prefix is enough)"),
        Command("cache rm", _rm, _Selecting, synopsis="KEY ... | --tags=ALIAS,_VARIATION",
                about="remove entries"),
        Command("cache gc", _gc, _GcOptions,
                about="remove entries not used for DAYS and leftovers of builds that did not "
                "finish; --dry-run only says what it would remove"),
    ],
)  # fmt: skip
