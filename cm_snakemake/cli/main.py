"""Entry point of ``cm-snakemake`` (and ``cmsm``): dispatch, help and error rendering.

Errors are rendered here and only here: a :class:`~cm_snakemake.errors.CMSnakemakeError`
becomes a message on standard error and its exit code (1 user error, 2 script failure).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .. import __version__
from ..errors import EXIT_OK, EXIT_USER_ERROR, CMSnakemakeError, UsageError
from ..reporting import ConsoleReporter
from .grammar import Args, parse_args

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Command", "Context", "main"]


@dataclass
class Context:
    """What every command gets: its output streams and the reporter."""

    out: TextIO
    err: TextIO
    reporter: ConsoleReporter


@dataclass(frozen=True)
class Command:
    """A sub-command: its function, one-line summary and full help text."""

    run: Callable[[Args, Context], int]
    summary: str
    usage: str


def _commands() -> dict[str, Command]:
    from . import repo_cmd, run_cmd, script_cmd

    return {
        "find": script_cmd.FIND,
        "list": script_cmd.LIST,
        "show": script_cmd.SHOW,
        "run": run_cmd.RUN,
        "repo": repo_cmd.REPO,
    }


def _main_help(commands: dict[str, Command]) -> str:
    lines = [
        "usage: cm-snakemake <command> [script] [TAGS or ALIAS] [--flags]",
        "",
        "Run MLCommons CM automation scripts, compiled into Snakemake workflows.",
        "",
        "commands:",
        *(f"  {name:<8} {cmd.summary}" for name, cmd in commands.items()),
        "",
        "Flags follow CM's grammar: --key=value, --key, --key-, --env.KEY=V,",
        "--adr.NAME.version_min=3.9, --key,=a,b and @input.json / @input.yaml.",
        "Run 'cm-snakemake <command> --help' for a command's flags.",
        "Exit codes: 0 success, 1 user error, 2 script failure.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:  # fmt: skip
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    commands = _commands()
    try:
        args = parse_args(argv)
        verbose = args.take_bool("verbose") or args.take_bool("v")
        ctx = Context(out, err, ConsoleReporter(err, verbose=verbose))
        if args.take_bool("version") and not args.positional:
            print(f"cm-snakemake {__version__}", file=out)
            return EXIT_OK
        if not args.positional or args.positional[0] == "help":
            topic = args.positional[1] if len(args.positional) > 1 else None
            if topic in commands:
                print(commands[topic].usage, file=out)
                return EXIT_OK
            print(_main_help(commands), file=out)
            return EXIT_OK if (args.positional or args.take_bool("help")) else EXIT_USER_ERROR
        name = args.positional.pop(0)
        command = commands.get(name)
        if command is None:
            raise UsageError(
                f"unknown command '{name}'",
                hint="Commands: " + ", ".join(commands) + ". Run 'cm-snakemake --help'.",
            )
        if args.take_bool("help"):
            print(command.usage, file=out)
            return EXIT_OK
        return command.run(args, ctx)
    except CMSnakemakeError as exc:
        print(f"cm-snakemake error: {exc.render()}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cm-snakemake: interrupted", file=err)
        return 130


def entry_point() -> None:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())
