"""Entry point of ``cm-snakemake`` (and ``cmsm``): dispatch, help and error rendering.

Errors are rendered here and only here: a :class:`~cm_snakemake.errors.CMSnakemakeError`
becomes a message on standard error and its exit code (1 user error, 2 script failure).
"""

from __future__ import annotations

import importlib
import sys

from .. import __version__
from .._util.reporting import ConsoleReporter
from .._util.settings import settings
from ..errors import EXIT_OK, EXIT_USER_ERROR, CMSnakemakeError, UsageError
from .grammar import Args, parse_args
from .options import BOOL, Flag, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

    from .options import Command, Group

__all__ = ["Context", "main"]


class Context:
    """What every command gets: its output streams and the reporter."""

    __slots__ = ("err", "out", "reporter")

    def __init__(self, out: TextIO, err: TextIO, reporter: ConsoleReporter) -> None:
        self.out = out
        self.err = err
        self.reporter = reporter


class EveryCommand(Options):
    """The flags every command has, read before the command's own."""

    help = Flag(BOOL, False, "print the command's usage and flags")
    verbose = Flag(
        BOOL, False, "also print notes (choices made, facts collected, ...)", aliases=("v",)
    )


class NoCommand(EveryCommand):
    """``cm-snakemake [--help | --version]``."""

    version = Flag(BOOL, False, "print the version of cm-snakemake")


# name -> (module, attribute, summary). Modules are imported only when their command runs,
# which keeps start-up (and so every `find`) fast.
_COMMANDS = {
    "find": ("script_cmd", "FIND", "find scripts by tags or alias and print their paths"),
    "list": ("script_cmd", "LIST", "list scripts with their tags"),
    "show": ("script_cmd", "SHOW", "show a script: variations, groups, defaults, deps, inputs"),
    "run": ("run_cmd", "RUN", "run a script with its dependencies and print its exports"),
    "plan": ("plan_cmd", "PLAN", "resolve a request into a plan: scripts, variations, deps"),
    "facts": ("plan_cmd", "FACTS", "record this machine's host facts for planning"),
    "prefetch": (
        "prefetch_cmd",
        "PREFETCH",
        "fetch a plan's downloads, git repos and pip packages into a bundle for offline runs",
    ),
    "cache": ("cache_cmd", "CACHE", "list, show, remove and collect cache entries"),
    "job": ("job_cmd", "JOB", "run one node of a compiled plan (a Snakemake job's body)"),
    "results": ("results_cmd", "RESULTS", "print the MLPerf results table; check a submission"),
    "profile": ("profile_cmd", "PROFILE", "write a Snakemake profile for a site (SLURM, local)"),
    "repo": ("repo_cmd", "REPO", "register, list, remove and check script repositories"),
}


def _command(name: str) -> Command[Any] | Group:
    module, attr, _ = _COMMANDS[name]
    command: Command[Any] | Group = getattr(
        importlib.import_module(f"{__package__}.{module}"), attr
    )
    return command


def _main_help() -> str:
    lines = [
        "usage: cm-snakemake <command> [script] [TAGS or ALIAS] [--flags]",
        "",
        "Run MLCommons CM automation scripts, compiled into Snakemake workflows.",
        "",
        "commands:",
        *(f"  {name:<8} {summary}" for name, (_, _, summary) in _COMMANDS.items()),
        "",
        "Flags follow CM's grammar: --key=value, --key, --key-, --env.KEY=V,",
        "--adr.NAME.version_min=3.9, --key,=a,b and @input.json / @input.yaml.",
        "Yes/no flags: --flag or --flag=yes, --flag- or --flag=no. A flag's value goes in",
        "the same word: --jobs=2 (--jobs 2 is an error).",
        "Run 'cm-snakemake <command> --help' for a command's flags.",
        "Exit codes: 0 success, 1 user error, 2 script failure.",
    ]
    return "\n".join(lines)


def _help(args: Args, out: TextIO) -> int:
    """``cm-snakemake [--help | --version]`` and ``cm-snakemake help [COMMAND [ACTION]]``."""
    asked = bool(args.positional)  # "help"
    words = args.positional[1:]
    options = NoCommand.parse(args)
    if options.version and not asked:
        print(f"cm-snakemake {__version__}", file=out)
        return EXIT_OK
    if words and words[0] in _COMMANDS:
        print(_command(words[0]).help_for(words[1:]), file=out)
        return EXIT_OK
    print(_main_help(), file=out)
    return EXIT_OK if (asked or options.help) else EXIT_USER_ERROR


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings.check()  # a bad CMSM_* value is an error now, not in the middle of a run
        if settings.offline:  # absolute now: scripts run in other folders
            settings.put("offline", settings.offline)
        args = parse_args(argv)
        if not args.positional or args.positional[0] == "help":
            return _help(args, out)
        every = EveryCommand.take(args)
        ctx = Context(out, err, ConsoleReporter(err, verbose=every.verbose))
        name = args.positional.pop(0)
        if name not in _COMMANDS:
            raise UsageError(
                f"unknown command '{name}'",
                hint="Commands: " + ", ".join(_COMMANDS) + ". Run 'cm-snakemake --help'.",
            )
        command = _command(name)
        if every.help:
            print(command.help_for(args.positional), file=out)
            return EXIT_OK
        return command(args, ctx)
    except CMSnakemakeError as exc:
        print(f"cm-snakemake error: {exc.render()}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cm-snakemake: interrupted", file=err)
        return 130


def entry_point() -> None:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())
