"""Command-line options as data: every command declares its flags once, in a table.

A command's flags are the :class:`Flag` attributes of an :class:`Options` subclass: the name
(the attribute), the kind (:data:`BOOL`, :data:`TEXT`, :data:`WHOLE`, :data:`NUMBER`,
:data:`PATH`, :data:`MAPPING`), the default and the help text. :meth:`Options.parse` reads
them once from the parsed command line (CM's grammar, :mod:`.grammar`) into a read-only
object with one typed attribute per flag, and :class:`Command` writes the command's help from
the same table: what a command accepts, what it makes of a value and what its help says
cannot drift apart.

The same rules hold for every flag of every command:

* a yes/no flag is on with ``--flag`` or ``--flag=yes`` (``true``, ``on``, ``1``), and off with
  ``--flag-`` or ``--flag=no`` (``false``, ``off``, ``0``);
* a flag that takes a value takes it in the same word, after ``=``: ``--jobs=2``. CM's grammar
  reads ``--jobs 2`` as ``--jobs`` (true) followed by a separate word ``2``, so that is an
  error that says ``write --jobs=2``;
* a flag that is not the command's own is an "unknown flag" error with a "did you mean",
  except where the command passes such flags on to a script as its inputs (``run``,
  ``plan``); those check them against what the script accepts (:meth:`Options.check_inputs`).

This module is on the path of every ``find``, so it imports neither ``typing`` nor
``dataclasses``: ``Generic`` exists for the type checker only (``Flag[int]`` is ``Flag`` at
run time), and the help text, which needs ``textwrap``, is written only when asked for.
"""

from __future__ import annotations

import math

from ..errors import UsageError
from .grammar import unknown_flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, Generic, Self, TypeVar

    from .grammar import Args
    from .main import Context

    T = TypeVar("T")
    T_co = TypeVar("T_co", covariant=True)
    OptionsT = TypeVar("OptionsT", bound="Options")
else:
    T = T_co = OptionsT = None

    class Generic:
        """``typing.Generic`` without importing ``typing``: ``Flag[int]`` is ``Flag`` here."""

        def __class_getitem__(cls, item: object) -> type:
            return cls


__all__ = [
    "BOOL",
    "MAPPING",
    "NUMBER",
    "PATH",
    "TEXT",
    "WHOLE",
    "Command",
    "Flag",
    "Group",
    "Kind",
    "Options",
]

_YES = ("yes", "true", "on", "1")
_NO = ("no", "false", "off", "0", "")
_WIDTH = 92  # of help text
_COLUMN = 19  # where the help of a flag starts
_VALUE_RULE = (
    "A flag's value goes in the same word, after '=': a word after a flag is a separate "
    "argument (CM's grammar)."
)


def _shown(value: object) -> str:
    return str(value)[:60]


class Kind(Generic[T_co]):
    """How a flag's value is read: its name in help and errors, a metavar, a converter."""

    __slots__ = ("convert", "metavar", "name")

    def __init__(self, name: str, metavar: str, convert: Callable[[Flag[Any], Any], T_co]) -> None:
        self.name = name
        self.metavar = metavar
        self.convert = convert

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


def _yes_no(flag: Flag[Any], value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
    raise UsageError(f"{flag.option} expects yes or no, not '{_shown(value)}'")


def _text(flag: Flag[Any], value: Any) -> str:
    if isinstance(value, list):  # --tags,=a,b
        return ",".join(map(str, value))
    if isinstance(value, dict):
        raise flag.needs_value()
    return str(value)


def _one_word(flag: Flag[Any], value: Any) -> str:
    if isinstance(value, list):
        raise UsageError(f"{flag.option} takes one value, not a list: {flag.option}={flag.metavar}")
    if isinstance(value, dict):
        raise flag.needs_value()
    return str(value)


def _whole(flag: Flag[Any], value: Any) -> int:
    text = _one_word(flag, value).strip()
    if not (text.isascii() and text.isdigit()):
        raise UsageError(f"{flag.option} expects a whole number, not '{_shown(text)}'")
    return int(text)


def _number(flag: Flag[Any], value: Any) -> float:
    text = _one_word(flag, value).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise UsageError(
            f"{flag.option} expects a number of {flag.metavar.lower()}, not '{_shown(text)}'"
        )
    return number


def _path(flag: Flag[Any], value: Any) -> str:
    text = _one_word(flag, value)
    if not text:
        raise flag.needs_value()
    return text


def _mapping(flag: Flag[Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{flag.option} needs a key: {flag.option}.KEY=VALUE")
    return value


BOOL: Kind[bool] = Kind("yes/no", "", _yes_no)
TEXT: Kind[str] = Kind("text", "TEXT", _text)
WHOLE: Kind[int] = Kind("whole number", "N", _whole)
NUMBER: Kind[float] = Kind("number", "NUMBER", _number)
PATH: Kind[str] = Kind("path", "PATH", _path)
MAPPING: Kind[dict[str, Any]] = Kind("mapping", "KEY=VALUE", _mapping)


class Flag(Generic[T]):
    """One flag of a command: kind, default and help; its name is the attribute's.

    On an :class:`Options` object the attribute is the flag's value, of the kind's type (or
    the default's).
    """

    __slots__ = ("aliases", "default", "help", "kind", "literal", "metavar", "name")

    def __init__(
        self,
        kind: Kind[T],
        default: T,
        help: str,
        *,
        metavar: str = "",
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.default = default
        self.help = help
        self.metavar = metavar or kind.metavar
        self.aliases = aliases
        self.name = ""
        self.literal = False  # shown as its key (--dry_run), not as a declared flag (--dry-run)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def named(self, name: str) -> Flag[T]:
        """This flag under the key ``name`` (a flag made outside an :class:`Options` class:
        a script input, say), shown as that key."""
        self.name = name
        self.literal = True
        return self

    def __get__(self, obj: Options | None, owner: object = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]  # on the class: the table entry
        value: T = obj._values[self.name]
        return value

    def __repr__(self) -> str:
        return f"Flag({self.option}, {self.kind.name})"

    @property
    def option(self) -> str:
        """The flag as written on the command line: ``--dry-run``."""
        return "--" + (self.name if self.literal else self.name.replace("_", "-"))

    @property
    def is_bool(self) -> bool:
        return self.kind is BOOL

    def synopsis(self) -> str:
        """``--json``, ``--jobs=N`` or ``--env.KEY=VALUE``, as usage lines show it."""
        if self.is_bool:
            return self.option
        return f"{self.option}{'.' if self.kind is MAPPING else '='}{self.metavar}"

    def needs_value(self, follower: str | None = None) -> UsageError:
        """The error for this flag given without a value (``--jobs``, ``--jobs 2``)."""
        if follower and " " not in follower:
            return UsageError(
                f"{self.option} needs a value: write {self.option}={follower}", hint=_VALUE_RULE
            )
        return UsageError(f"{self.option} needs a value: {self.synopsis()}", hint=_VALUE_RULE)

    def read(self, args: Args) -> T:
        """The flag's value in ``args`` (its default if not given), marked as used."""
        keys = [k for k in (self.name, *self.aliases) if k in args.flags]
        args.used.update((self.name, *self.aliases))
        if not keys:
            return self.default
        if self.is_bool:  # --new or --renew: either turns it on
            values = [self.kind.convert(self, args.flags[k]) for k in keys]
            return any(values)  # type: ignore[return-value]  # T is bool for BOOL
        value = args.flags[keys[0]]
        if self.kind is MAPPING:
            return self.kind.convert(self, value)
        if value is True:
            raise self.needs_value(args.followers.get(keys[0]))
        if value is False:
            raise UsageError(
                f"{self.option} takes a value: {self.synopsis()} ({self.option}- "
                "turns off a yes/no flag)",
                hint=_VALUE_RULE,
            )
        return self.kind.convert(self, value)


class Options:
    """A command's flags, read-only once parsed. Subclasses declare them as :class:`Flag`\\ s.

    ``positional`` holds the words that are not flags, ``rest`` what followed ``--``, and
    ``inputs`` the flags that are not the command's own when :attr:`takes_inputs` says that
    they go to a script.
    """

    __slots__ = ("_followers", "_inputs", "_values", "positional", "rest")
    _values: dict[str, Any]
    _inputs: dict[str, Any]
    _followers: dict[str, str]
    positional: tuple[str, ...]
    rest: tuple[str, ...]

    flags: tuple[Flag[Any], ...] = ()
    """The table: every flag of the command, in the order of declaration (base classes first)."""
    takes_inputs = False
    """Whether flags that are not the command's own are a script's inputs (else errors)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, Flag[Any]] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Flag):
                    table[value.name] = value
        cls.flags = tuple(table.values())

    def __init__(
        self,
        values: dict[str, Any],
        positional: Sequence[str] = (),
        inputs: dict[str, Any] | None = None,
        rest: Sequence[str] = (),
        followers: dict[str, str] | None = None,
    ) -> None:
        missing = [f.name for f in self.flags if f.name not in values]
        if missing:
            raise TypeError(f"{type(self).__name__} lacks flags {missing}")
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "positional", tuple(positional))
        object.__setattr__(self, "_inputs", dict(inputs or {}))
        object.__setattr__(self, "rest", tuple(rest))
        object.__setattr__(self, "_followers", dict(followers or {}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"options are read-only ({name})")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({shown}, positional={self.positional!r})"

    @classmethod
    def parse(cls, args: Args) -> Self:
        """Read the command's flags from ``args``; any other flag is an error unless the
        command :attr:`takes_inputs`."""
        values = {flag.name: flag.read(args) for flag in cls.flags}
        others = {k: v for k, v in args.flags.items() if k not in args.used}
        if others and not cls.takes_inputs:
            raise unknown_flags(others, args.used)
        return cls(values, args.positional, others, args.rest, args.followers)

    @classmethod
    def take(cls, args: Args) -> Self:
        """Read these flags from ``args`` and leave the others to a command (the flags every
        command has: ``--help``, ``--verbose``)."""
        return cls({flag.name: flag.read(args) for flag in cls.flags})

    @classmethod
    def names(cls) -> set[str]:
        """Every name the command's flags answer to (aliases included)."""
        return {name for flag in cls.flags for name in (flag.name, *flag.aliases)}

    @property
    def inputs(self) -> dict[str, Any]:
        """The flags that are not the command's own (a script's inputs); a fresh copy."""
        return dict(self._inputs)

    def as_dict(self) -> dict[str, Any]:
        """The value of every flag, by name."""
        return dict(self._values)

    def check_inputs(self, accepted: Iterable[str]) -> None:
        """Raise "unknown flag" for inputs the script does not accept (``accepted``)."""
        accepted = set(accepted)
        unknown = [k for k in self._inputs if k not in accepted]
        if unknown:
            raise unknown_flags(unknown, accepted | self.names())

    def flag_before(self, word: str) -> str | None:
        """The flag written bare right before the positional ``word`` (``--jobs 2``)."""
        found = [key for key, follower in self._followers.items() if follower == word]
        return found[0] if found else None


# -- commands and their help --------------------------------------------------------------


class Command(Generic[OptionsT]):
    """A command, or one action of a :class:`Group`: its options, its function, its help.

    ``synopsis`` is what follows the command's name in the usage line besides the flags
    (positional words, script inputs); ``arguments`` are ``(label, help)`` rows describing
    them; ``about`` is the description. The flags' rows and the usage line come from the
    options' table.
    """

    __slots__ = ("about", "arguments", "name", "options", "run", "synopsis")

    def __init__(
        self,
        name: str,
        run: Callable[[OptionsT, Context], int],
        options: type[OptionsT],
        *,
        about: str,
        synopsis: str = "",
        arguments: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.name = name
        self.run = run
        self.options = options
        self.about = about
        self.synopsis = synopsis
        self.arguments = tuple(arguments)

    def __call__(self, args: Args, ctx: Context) -> int:
        return self.run(self.options.parse(args), ctx)

    def help_for(self, words: Sequence[str]) -> str:
        return self.usage

    def usage_line(self, prefix: str = "usage: ") -> str:
        """``usage: cm-snakemake NAME SYNOPSIS [--flag] ...``, wrapped."""
        import textwrap

        head = f"{prefix}cm-snakemake {self.name}"
        parts = [self.synopsis] if self.synopsis else []
        parts += [
            f"[{f.synopsis()}]"
            for f in self.options.flags
            if f.synopsis().split("=")[0] + "=" not in self.synopsis
        ]
        indent = " " * (len(head) + 1)
        lines = textwrap.wrap(
            " ".join(parts), _WIDTH - len(indent), break_long_words=False, break_on_hyphens=False
        ) or [""]
        return "\n".join([f"{head} {lines[0]}".rstrip(), *(indent + line for line in lines[1:])])

    @property
    def usage(self) -> str:
        """The full help: usage line, description, arguments, flags and the flag rules."""
        sections = [self.usage_line(), _paragraphs(self.about)]
        if self.arguments:
            sections.append(_rows(self.arguments))
        if self.options.flags:
            sections.append("flags:\n" + _rows(_flag_rows(self.options.flags)))
        sections.append(_rules(self.options.flags))
        return "\n\n".join(sections)


class Group:
    """A command made of actions (``cache list``, ``cache gc``): each action is a
    :class:`Command` named ``"<group> <action words>"``, with its own flags."""

    __slots__ = ("about", "actions", "name")

    def __init__(self, name: str, about: str, actions: Sequence[Command[Any]]) -> None:
        self.name = name
        self.about = about
        self.actions = {tuple(a.name.split()[1:]): a for a in actions}

    def _action(self, words: Sequence[str]) -> Command[Any] | None:
        for action_words, action in self.actions.items():
            if tuple(words[: len(action_words)]) == action_words:
                return action
        return None

    def __call__(self, args: Args, ctx: Context) -> int:
        action = self._action(args.positional)
        if action is None:
            names = [" ".join(words) for words in self.actions]
            listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
            raise UsageError(f"{self.name} needs an action: {listed}", hint=self.usage)
        del args.positional[: len(action.name.split()) - 1]
        return action(args, ctx)

    def help_for(self, words: Sequence[str]) -> str:
        """The help of the action ``words`` name, else of the whole group."""
        action = self._action(words)
        return action.usage if action is not None else self.usage

    @property
    def usage(self) -> str:
        actions = list(self.actions.values())
        lines = [a.usage_line("usage: " if i == 0 else "       ") for i, a in enumerate(actions)]
        rows = [(" ".join([*a.name.split()[1:], a.synopsis]).strip(), a.about) for a in actions]
        flags: dict[str, Flag[Any]] = {}
        takers: dict[str, list[str]] = {}
        for action in actions:
            for flag in action.options.flags:
                flags.setdefault(flag.name, flag)
                takers.setdefault(flag.name, []).append(" ".join(action.name.split()[1:]))
        flag_rows = []
        for name, (label, text) in zip(flags, _flag_rows(flags.values()), strict=True):
            some = len(takers[name]) < len(actions)
            flag_rows.append((label, f"{', '.join(takers[name])}: {text}" if some else text))
        sections = ["\n".join(lines), _paragraphs(self.about), _rows(rows)]
        if flag_rows:
            sections.append("flags:\n" + _rows(flag_rows))
        sections.append(_rules(flags.values()))
        return "\n\n".join(sections)


def _flag_rows(flags: Iterable[Flag[Any]]) -> list[tuple[str, str]]:
    rows = []
    for flag in flags:
        label = ", ".join([flag.synopsis(), *(f"--{a.replace('_', '-')}" for a in flag.aliases)])
        text = flag.help
        default = flag.default
        if default is not None and default is not False and default != "":
            text += (
                f" (default: {default:g})"
                if isinstance(default, float)
                else f" (default: {default})"
            )
        rows.append((label, text))
    return rows


def _paragraphs(text: str) -> str:
    """``text`` with each paragraph (blank-line separated) filled to the width of help."""
    import textwrap

    return "\n\n".join(
        textwrap.fill(" ".join(p.split()), _WIDTH, break_on_hyphens=False)
        for p in text.split("\n\n")
    )


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    """Two columns: a label and its text, wrapped; a long label gets a line of its own."""
    import textwrap

    lines = []
    pad = " " * _COLUMN
    for label, text in rows:
        wrapped = textwrap.wrap(text, _WIDTH - _COLUMN, break_on_hyphens=False) or [""]
        if len(label) + 4 > _COLUMN:
            lines.append(f"  {label}")
            lines += [pad + line for line in wrapped]
        else:
            lines.append(f"  {label:<{_COLUMN - 4}}  {wrapped[0]}".rstrip())
            lines += [pad + line for line in wrapped[1:]]
    return "\n".join(lines)


def _rules(flags: Iterable[Flag[Any]]) -> str:
    """The rules of yes/no and value flags, with this command's own flags as examples."""
    import textwrap

    flags = list(flags)
    yes_no = next((f.option for f in flags if f.is_bool), None)
    valued = [f for f in flags if not f.is_bool and f.kind is not MAPPING]
    valued.sort(key=lambda f: f.kind is not WHOLE)  # --jobs=N is the one people space out
    text = ""
    if yes_no:
        text += f"Yes/no flags: {yes_no} or {yes_no}=yes, and {yes_no}- or {yes_no}=no. "
    if valued:
        flag = valued[0]
        text += (
            f"A value goes in the same word: {flag.option}={flag.metavar} "
            f"({flag.option} {flag.metavar} is an error). "
        )
    text += "--help and --verbose work with every command."
    return textwrap.fill(text, _WIDTH, break_on_hyphens=False)
