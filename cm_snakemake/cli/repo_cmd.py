"""``repo add|list|rm|check``: managing the registered script repositories."""

from __future__ import annotations

import json

from ..errors import EXIT_OK, EXIT_USER_ERROR, UsageError
from ..index.repos import Registry, package_path
from ..index.scripts import ScriptIndex
from .options import BOOL, TEXT, Command, Flag, Group, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["REPO"]


class _AddOptions(Options):
    package = Flag(
        TEXT,
        None,
        "register the repository shipped by the installed Python "
        "package NAME (for example cmx4mlops)",
        metavar="NAME",
    )
    allow_external_links = Flag(
        BOOL,
        False,
        "also follow links in the repository that lead "
        "outside it (they are not followed otherwise; "
        "CMSM_ALLOW_EXTERNAL_LINKS=1 allows them in every repository); "
        "on a registered repository, turns this on",
    )


class _ListOptions(Options):
    json = Flag(BOOL, False, "print the repositories as JSON")


class _NoOptions(Options):
    pass


def _add(options: _AddOptions, ctx: Context) -> int:
    registry = Registry()
    package = options.package
    allow_links = options.allow_external_links
    if package:
        if options.positional:
            raise UsageError("give either a path or --package, not both")
        path = package_path(package)
    elif len(options.positional) == 1:
        path = options.positional[0]
    else:
        raise UsageError("repo add needs one path", hint="Example: cm-snakemake repo add ~/my-repo")
    repo = registry.add(path, allow_external_links=allow_links)
    index = ScriptIndex([repo], cache_dir=registry.index_dir, reporter=ctx.reporter)
    warnings = sum(len(e.warnings) for e in index)
    print(
        f"registered '{repo.alias}' ({repo.dialect.value} dialect): {len(index.usable())} "
        f"scripts, {len(index.broken())} unreadable, {warnings} warnings",
        file=ctx.out,
    )
    print(
        "note: scripts of a registered repository run with your user's rights; "
        "register only repositories you trust.",
        file=ctx.out,
    )
    if allow_links:
        links = "note: links in it are followed even where they lead outside it."
    else:
        links = (
            "note: links in it that lead outside it are not followed "
            "(--allow-external-links follows them)."
        )
    print(links, file=ctx.out)
    if index.broken() or warnings:
        print(f"Run 'cm-snakemake repo check {repo.alias}' for the details.", file=ctx.out)
    return EXIT_OK


def _list(options: _ListOptions, ctx: Context) -> int:
    repos = Registry().repositories()
    if options.json:
        rows = [{**r.to_json(), "dialect": r.dialect.value, "bundled": r.bundled} for r in repos]
        print(json.dumps(rows, indent=1), file=ctx.out)
        return EXIT_OK
    for repo in repos:
        mark = " (bundled)" if repo.bundled else ""
        mark += " (external links allowed)" if repo.allow_external_links else ""
        print(f"{repo.alias:<28} {repo.dialect.value:<4} {repo.root}{mark}", file=ctx.out)
    return EXIT_OK


def _rm(options: _NoOptions, ctx: Context) -> int:
    if len(options.positional) != 1:
        raise UsageError("repo rm needs one alias or path")
    path = Registry().remove(options.positional[0])
    print(f"unregistered {path}", file=ctx.out)
    return EXIT_OK


def _check(options: _NoOptions, ctx: Context) -> int:
    registry = Registry()
    repos = registry.repositories()
    if options.positional:
        wanted = set(options.positional)
        repos = [r for r in repos if r.alias in wanted or str(r.root) in wanted]
        if not repos:
            raise UsageError(f"no registered repository {', '.join(sorted(wanted))}")
    index = ScriptIndex(repos, cache_dir=registry.index_dir, reporter=ctx.reporter)
    warnings = 0
    for entry in index:
        if entry.error:
            print(f"error: {entry.error}", file=ctx.out)
        for warning in entry.warnings:
            print(f"warning: {warning}", file=ctx.out)
            warnings += 1
    for uid, entries in index.duplicate_uids.items():
        names = ", ".join(e.path for e in entries)
        print(f"warning: uid {uid} is used by several scripts: {names}", file=ctx.out)
        warnings += 1
    broken = len(index.broken())
    print(
        f"{len(index)} scripts in {len(repos)} repositories: {len(index) - broken} usable, "
        f"{broken} unreadable, {warnings} warnings",
        file=ctx.out,
    )
    return EXIT_USER_ERROR if broken else EXIT_OK


REPO = Group(
    "repo",
    about="""Repositories are CM (cmr.yaml, scripts in <prefix>/script/*/_cm.yaml|_cm.json) or
MLC (meta.yaml, scripts in script/*/meta.yaml). The list lives in $CMSM_HOME/repos.json
(default ~/.cm-snakemake). The bundled repository is always registered.""",
    actions=[
        Command("repo add", _add, _AddOptions, synopsis="PATH | --package=NAME",
                about="register the repository at PATH, or the one a Python package ships"),
        Command("repo list", _list, _ListOptions, about="show the registered repositories"),
        Command("repo rm", _rm, _NoOptions, synopsis="ALIAS|PATH",
                about="unregister a repository by alias or path"),
        Command("repo check", _check, _NoOptions, synopsis="[ALIAS ...]",
                about="list every unreadable script and every meta warning; exit 1 if any "
                "script is unreadable"),
    ],
)  # fmt: skip
