"""Every ``CMSM_*`` environment variable in one table: name, type, default and meaning.

The package reads its variables through :data:`settings` (``settings.home``,
``settings.cache``, ...), never through ``os.environ`` directly, so that each one has one
parser, one default and one line of documentation. The README's table of variables is
:func:`markdown_table`, and a test keeps the two equal.

Values are read from the environment each time they are asked for, not once at import: tests
and Snakemake jobs change the environment of a running process (``CMSM_HOME`` per test,
``CMSM_CONTROLLER_STARTED`` for the jobs of a controller). A read is a dictionary lookup,
and this module imports nothing heavy: ``find`` goes through it at start-up.

Kinds of value:

* ``yes/no``: ``1``, ``yes``, ``true``, ``on`` or ``0``, ``no``, ``false``, ``off`` (any
  case); unset or empty means no; anything else is a :class:`SettingError` naming the
  variable;
* ``path``: ``~`` is expanded and the path made absolute; unset or empty means the default;
* ``number``: a decimal number.

The table also lists the variables the package sets for others (the jobs of a workflow, the
native scripts) and those the bundled scripts read themselves; those are the scripts' own
interface and are read by them, not here.
"""

from __future__ import annotations

import math
import os

from ..errors import CMSnakemakeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, MutableMapping

__all__ = [
    "OTHER_VARIABLES",
    "SECRET_PREFIX",
    "SettingError",
    "Settings",
    "Variable",
    "markdown_table",
    "name_of",
    "secret_name",
    "settings",
    "variables",
]

SECRET_PREFIX = "CMSM_SECRET_"
_YES = ("1", "yes", "true", "on")
_NO = ("", "0", "no", "false", "off")


class SettingError(CMSnakemakeError):
    """A ``CMSM_*`` variable holds a value of the wrong kind."""

    def __init__(self, variable: Variable, value: str, expected: str) -> None:
        super().__init__(
            f"{variable.name}={value!r:.80}: expected {expected}",
            hint=f"{variable.name}: {variable.meaning}. Unset it or give {expected}.",
        )
        self.variable = variable
        self.value = value


class Variable:
    """One environment variable: name, kind, default (as documented), meaning, reader."""

    __slots__ = ("attr", "default", "kind", "meaning", "name", "reader")

    def __init__(
        self, name: str, kind: str, default: str, meaning: str, reader: str = "cm-snakemake"
    ) -> None:
        self.name = name
        self.kind = kind
        self.default = default
        self.meaning = meaning
        self.reader = reader
        self.attr = ""  # the attribute of Settings that reads it, for the variables read here

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _text(self, obj: Settings) -> str:
        return obj.environ.get(self.name, "")


class _Switch(Variable):
    """A ``yes/no`` variable, read as a bool."""

    __slots__ = ()

    def __init__(self, name: str, meaning: str) -> None:
        super().__init__(name, "yes/no", "no", meaning)

    def __get__(self, obj: Settings | None, owner: object = None) -> bool:
        if obj is None:
            return self  # type: ignore[return-value]  # on the class: the table entry
        text = self._text(obj).strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise SettingError(self, text, "yes or no (1/0, true/false, on/off)")


class _Folder(Variable):
    """A ``path`` variable, read as an absolute path (its default when unset or empty)."""

    __slots__ = ("fallback", "real")

    def __init__(
        self,
        name: str,
        default: str,
        meaning: str,
        *,
        fallback: Callable[[Settings], str],
        real: bool = False,
        reader: str = "cm-snakemake",
    ) -> None:
        super().__init__(name, "path", default, meaning, reader)
        self.fallback = fallback
        self.real = real  # links resolved (the home folder: repositories compare real paths)

    def __get__(self, obj: Settings | None, owner: object = None) -> str:
        if obj is None:
            return self  # type: ignore[return-value]  # on the class: the table entry
        text = self._text(obj)
        if not text:
            return self.fallback(obj)
        path = os.path.expanduser(text)
        return os.path.realpath(path) if self.real else os.path.abspath(path)


class _Time(Variable):
    """A ``number`` variable holding seconds since the epoch; None when unset."""

    __slots__ = ()

    def __get__(self, obj: Settings | None, owner: object = None) -> float | None:
        if obj is None:
            return self  # type: ignore[return-value]  # on the class: the table entry
        text = self._text(obj).strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise SettingError(self, text, "a number of seconds since the epoch") from None
        if not math.isfinite(value):
            raise SettingError(self, text, "a number of seconds since the epoch")
        return value


class _Count(Variable):
    """A ``number`` variable holding a count (a whole number, at least 0); None when unset."""

    __slots__ = ()

    def __get__(self, obj: Settings | None, owner: object = None) -> int | None:
        if obj is None:
            return self  # type: ignore[return-value]  # on the class: the table entry
        text = self._text(obj).strip()
        if not text:
            return None
        if not text.isdigit():
            raise SettingError(self, text, "a whole number, 0 or more")
        return int(text)


class Settings:
    """The package's ``CMSM_*`` variables, read from ``environ`` (the process environment).

    ``Settings({"CMSM_HOME": "/x"})`` reads another mapping (tests, a job's environment).
    """

    __slots__ = ("environ",)

    home = _Folder(
        "CMSM_HOME",
        "~/.cm-snakemake",
        "cm-snakemake's own folder: repos.json (the registered repositories), index/, "
        "facts/ (this machine's host facts), cache/ and downloads/",
        fallback=lambda s: os.path.join(os.path.expanduser("~"), ".cm-snakemake"),
        real=True,
        reader="cm-snakemake, download-file-verified",
    )
    cache = _Folder(
        "CMSM_CACHE",
        "$CMSM_HOME/cache",
        "the root of the cache store; on a shared file system, one cache for a team or the "
        "nodes of a cluster",
        fallback=lambda s: os.path.join(s.home, "cache"),
    )
    cache_group_writable = _Switch(
        "CMSM_CACHE_GROUP_WRITABLE",
        "cache entries readable and writable by the group (folders setgid): a team cache",
    )
    allow_external_links = _Switch(
        "CMSM_ALLOW_EXTERNAL_LINKS",
        "follow links that lead out of a script repository, in every repository (repo add "
        "--allow-external-links allows them in one)",
    )
    workdir = _Folder(
        "CMSM_WORKDIR",
        ".cmsm",
        "the folder of a Snakemake workflow's compiled plans, node files and results, "
        "relative to the directory Snakemake runs in",
        fallback=lambda s: os.path.abspath(".cmsm"),
    )
    controller_started = _Time(
        "CMSM_CONTROLLER_STARTED",
        "number",
        "",
        "set by a Snakemake controller for its jobs: when it started (seconds since the "
        "epoch); entries another process completed after that are reused",
        reader="cm-snakemake (internal)",
    )

    offline = _Folder(
        "CMSM_OFFLINE",
        "",
        "a prefetch bundle (cm-snakemake prefetch): every download, git clone and pip "
        "install of a run comes from it, and a need it lacks stops the run before any work; "
        "unset: the network",
        fallback=lambda s: "",
    )
    nested_jobs = _Count(
        "CMSM_NESTED_JOBS",
        "number",
        "0",
        "in a Snakemake job: how many jobs a nested Snakemake run may run at once that "
        "schedules the dependencies of a script the job runs itself (a post dependency, a "
        "residual one, a script a hook runs); 0 or 1 (the default): they run one after "
        "another in the job",
    )

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def secret(self, digest: str) -> str | None:
        """The value of the secret ``digest`` passed to this job (``CMSM_SECRET_<digest>``)."""
        return self.environ.get(secret_name(digest))

    def put(self, attr: str, value: str, environ: MutableMapping[str, str] | None = None) -> None:
        """Set the variable read by ``attr`` in ``environ`` (the process environment), for
        the processes started from here."""
        target = os.environ if environ is None else environ
        target[_by_attr(attr).name] = value

    def check(self) -> None:
        """Read every variable once: a bad value is a :class:`SettingError` now, before any
        work, rather than in the middle of it."""
        for variable in variables():
            getattr(self, variable.attr)


def secret_name(digest: str) -> str:
    """The variable that passes the secret with ``digest`` to the jobs of a workflow."""
    return f"{SECRET_PREFIX}{digest}"


OTHER_VARIABLES = (
    Variable(f"{SECRET_PREFIX}<digest>", "text", "",
             "set for the jobs of a workflow: the value of a secret input, by its digest "
             "(plan files hold only the digest)", reader="cm-snakemake (internal)"),
    Variable("CMSM_PYTHON", "path", "",
             "set for every native script: the Python that runs cm-snakemake",
             reader="set for scripts"),
    Variable("CMSM_DOWNLOADS", "path", "$CMSM_HOME/downloads",
             "where download-file-verified keeps partial downloads between attempts",
             reader="bundled script"),
    Variable("CMSM_PYTHON_PACKAGE", "text", "",
             "set by a variation of get-python-package: the package pip installs",
             reader="bundled script"),
    Variable("CMSM_PYTHON_MODULE", "text", "",
             "set by a variation of get-python-package: the module it imports",
             reader="bundled script"),
    Variable("CMSM_PYTHON_KEY", "text", "",
             "set by a variation of get-python-package: KEY in "
             "`CM_PYTHONLIB_<KEY>_VERSION`",
             reader="bundled script"),
)  # fmt: skip
"""Variables the package sets for others, or the bundled scripts read (their interface)."""


def variables() -> Iterator[Variable]:
    """The variables read through :class:`Settings`, in the order of the table."""
    for value in vars(Settings).values():
        if isinstance(value, Variable):
            yield value


def _by_attr(attr: str) -> Variable:
    for variable in variables():
        if variable.attr == attr:
            return variable
    raise KeyError(f"no setting '{attr}'")


def name_of(attr: str) -> str:
    """The variable that :class:`Settings` attribute ``attr`` reads (for messages)."""
    return _by_attr(attr).name


def markdown_table() -> str:
    """The README's table of every variable (a test keeps the README equal to it)."""
    lines = ["| Variable | Type | Default | Meaning | Read by |", "|---|---|---|---|---|"]
    for v in (*variables(), *OTHER_VARIABLES):
        default = f"`{v.default}`" if v.default else ""
        lines.append(f"| `{v.name}` | {v.kind} | {default} | {v.meaning} | {v.reader} |")
    return "\n".join(lines)


settings = Settings()
"""The settings of this process, read from ``os.environ``."""
