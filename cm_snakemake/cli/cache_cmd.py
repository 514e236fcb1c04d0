"""``cache list|show|rm|gc``: the cache store."""

from __future__ import annotations

import json
import shutil
import time

from ..cache.store import CacheEntry, CacheStore
from ..errors import EXIT_OK, UsageError
from ..meta.tags import split_tags
from .main import Command, Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .grammar import Args

__all__ = ["CACHE"]


def _selected(store: CacheStore, args: Args) -> list[CacheEntry]:
    """Entries named by KEY (a prefix is enough) or by --tags (aliases or variations)."""
    tags = split_tags(args.take_str("tags") or "")
    keys = list(args.positional)
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


def _list(args: Args, ctx: Context, store: CacheStore) -> int:
    as_json = args.take_bool("json")
    entries = _selected(store, args)
    args.check_consumed()
    if as_json:
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


def _show(args: Args, ctx: Context, store: CacheStore) -> int:
    entries = _selected(store, args)
    args.check_consumed()
    if len(entries) != 1:
        raise UsageError(
            f"'cache show' needs exactly one entry; {len(entries)} match",
            hint="Give a key (or a longer prefix of it); 'cm-snakemake cache list' shows them.",
        )
    entry = entries[0]
    print(json.dumps({"path": entry.path, **entry.result}, indent=1, default=str), file=ctx.out)
    return EXIT_OK


def _rm(args: Args, ctx: Context, store: CacheStore) -> int:
    if not args.positional and not args.flags.get("tags"):
        raise UsageError("cache rm needs a KEY or --tags=...", hint=CACHE.usage)
    entries = _selected(store, args)
    args.check_consumed()
    for entry in entries:
        store.remove(entry)
        print(f"removed {entry.path}", file=ctx.out)
    if not entries:
        print("no matching entry", file=ctx.out)
    return EXIT_OK


def _gc(args: Args, ctx: Context, store: CacheStore) -> int:
    days = args.take_str("older_than") or "30"
    dry_run = args.take_bool("dry_run")
    args.check_consumed()
    try:
        limit = time.time() - float(days) * 86400
    except ValueError:
        raise UsageError(f"--older-than expects a number of days, not '{days}'") from None
    victims = [e for e in store.entries() if store.last_used(e) < limit]
    for entry in victims:
        print(f"{'would remove' if dry_run else 'removed'} {entry.path} "
              f"(last used {time.strftime('%Y-%m-%d', time.gmtime(store.last_used(entry)))})",
              file=ctx.out)  # fmt: skip
        if not dry_run:
            store.remove(entry)
    for path in store.incomplete():
        alias, key = path.rstrip("/").split("/")[-2:]
        with store.lock(alias, key):  # not while another process is still building it
            if path in store.incomplete():
                print(f"{'would remove' if dry_run else 'removed'} incomplete {path}",
                      file=ctx.out)  # fmt: skip
                if not dry_run:
                    shutil.rmtree(path, ignore_errors=True)
    return EXIT_OK


_ACTIONS = {"list": _list, "show": _show, "rm": _rm, "gc": _gc}


def _cache(args: Args, ctx: Context) -> int:
    if not args.positional or args.positional[0] not in _ACTIONS:
        raise UsageError("cache needs an action: list, show, rm or gc", hint=CACHE.usage)
    action = _ACTIONS[args.positional.pop(0)]
    store = CacheStore(args.take_str("cache_dir"))
    return action(args, ctx, store)


CACHE = Command(
    _cache,
    """usage: cm-snakemake cache list [KEY ...] [--tags=ALIAS,_VARIATION] [--json]
       cm-snakemake cache show KEY
       cm-snakemake cache rm KEY ... | --tags=...
       cm-snakemake cache gc [--older-than=DAYS] [--dry-run]

The cache store holds one folder per cached script run, named by the content key of its
plan node: <root>/<alias>/<key>/ (root: $CMSM_CACHE, default $CMSM_HOME/cache).

  list             complete entries (key prefix, script, variations, version), then
                   folders of builds that did not finish
  show KEY         an entry's exports and record (a unique key prefix is enough)
  rm KEY|--tags=   remove entries
  gc               remove entries not used for DAYS (default 30) and leftovers of builds
                   that did not finish; --dry-run only says what it would remove
  --cache-dir=DIR  use another cache root""",
)
