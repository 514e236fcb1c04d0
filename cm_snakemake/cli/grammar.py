"""CM's command-line grammar (docs/cm-behaviour.md §2.2), with a record of which flags were used.

* ``--key=value`` gives the string ``value``; ``--key`` gives True; ``--key-`` gives False;
  ``-`` in the first part of a key becomes ``_``.
* dotted keys nest: ``--env.CM_X=1`` → ``{"env": {"CM_X": "1"}}``;
  ``--adr.python.version_min=3.9`` → ``{"adr": {"python": {"version_min": "3.9"}}}``.
* ``--key,=a,b`` gives the list ``["a", "b"]``.
* ``@file.json`` / ``@file.yaml`` merges the file's mapping into the flags (shallow update).
* everything after ``--`` is kept unparsed.
* an argument that is not UTF-8 text (bytes a terminal passes through as they are) is refused,
  except the file name of ``@file``: it would reach scripts, files and output it cannot be
  written to.

A bare ``--key`` is true, so ``--jobs 2`` is ``--jobs`` (true) and a separate word ``2``, as
in CM; :attr:`Args.followers` remembers such words, so that a flag that needs a value can say
``write --jobs=2``.

Commands read their flags through a table (:mod:`cm_snakemake.cli.options`), which marks
each flag it reads in :attr:`Args.used`; :func:`unknown_flags` is the error for the others,
with a "did you mean" for misspellings.
"""

from __future__ import annotations

from ..errors import CMSnakemakeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

__all__ = ["Args", "parse_args", "unknown_flags"]

_MAX_KEY_PARTS = 64  # as deep as a meta file may nest (metafile.MAX_DEPTH)


class Args:
    """Parsed command line: positional words, nested flags and the unparsed rest."""

    def __init__(self) -> None:
        self.positional: list[str] = []
        self.flags: dict[str, Any] = {}
        self.rest: list[str] = []
        self.used: set[str] = set()
        # a bare --key (dotted as written) -> the positional word right after it
        self.followers: dict[str, str] = {}


def unknown_flags(unknown: Iterable[str], known: Iterable[str]) -> UsageError:
    """The error for flags nothing reads, each with a "did you mean" among ``known``."""
    import difflib

    candidates = sorted(known)
    lines = []
    for key in unknown:
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.7)
        lines.append(f"--{key}" + (f" (did you mean --{close[0]}?)" if close else ""))
    return UsageError(
        "unknown flag" + ("s: " if len(lines) > 1 else ": ") + ", ".join(lines),
        hint="Nothing in this command reads it. Run the command with --help to see its flags.",
    )


def _set_nested(flags: dict[str, Any], path: Sequence[str], value: Any, arg: str) -> None:
    node = flags
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UsageError(f"{arg}: '{part}' was already given a value")
        node = child
    node[path[-1]] = value


def _parse_flag(arg: str) -> tuple[list[str], Any]:
    """``--key...`` as its key path and value (the key's first part with ``_`` for ``-``)."""
    body = arg[2:]
    if "=" in body:
        key, value_text = body.split("=", 1)
        value: Any = value_text
        if key.endswith(","):
            key = key[:-1]
            value = [v for v in value_text.split(",") if v != ""]
    elif body.endswith("-"):
        key, value = body[:-1], False
    else:
        key, value = body, True
    if not key or key.startswith(".") or key.endswith(".") or ".." in key:
        raise UsageError(f"malformed flag '{arg}'", hint="Flags look like --key=value or --key.")
    parts = key.split(".")
    if len(parts) > _MAX_KEY_PARTS:
        raise UsageError(f"flag '{arg[:60]}...' has more than {_MAX_KEY_PARTS} dotted parts")
    parts[0] = parts[0].replace("-", "_")
    return parts, value


def _load_input_file(arg: str) -> dict[str, Any]:
    from pathlib import Path

    from ..meta.metafile import load_json_file, load_yaml_file

    path = Path(arg[1:])
    try:
        found = path.is_file()
    except (OSError, ValueError) as exc:  # a name too long for the system, say
        raise UsageError(f"input file '{path}' cannot be used ({exc})") from None
    if not found:
        raise UsageError(f"input file '{path}' does not exist")
    try:
        if path.suffix == ".json":
            data, _ = load_json_file(path)
        else:
            data, _ = load_yaml_file(path)
    except CMSnakemakeError as exc:
        raise UsageError(exc.message) from None
    if not isinstance(data, dict):
        raise UsageError(f"input file '{path}' must hold a mapping of flags")
    return dict(data)


def _not_utf8(arg: str) -> bool:
    """Whether ``arg`` holds bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_args(argv: Sequence[str]) -> Args:
    """Parse ``argv`` (without the program name) with CM's grammar."""
    args = Args()
    items = list(argv)
    bare = None  # the key of a bare --key just before, which a word may follow
    for i, arg in enumerate(items):
        if arg == "--":
            args.rest = items[i + 1 :]
            break
        if arg.startswith("@") and len(arg) > 1:
            args.flags.update(_load_input_file(arg))
        elif not arg.isascii() and _not_utf8(arg):
            raise UsageError(
                f"argument {arg!r} is not UTF-8 text",
                hint="Give flags and names as UTF-8 text (file names of @file may be any bytes).",
            )
        elif arg.startswith("--"):
            path, value = _parse_flag(arg)
            _set_nested(args.flags, path, value, arg)
            bare = ".".join(path) if value is True else None
            continue
        elif arg in ("-h", "-?"):
            args.flags["help"] = True
        elif arg.startswith("-") and len(arg) > 1 and not arg[1:2].isdigit():
            raise UsageError(
                f"unknown option '{arg}'", hint="Flags start with two dashes: --key=value."
            )
        else:
            args.positional.append(arg)
            if bare is not None:
                args.followers.setdefault(bare, arg)
        bare = None
    return args
