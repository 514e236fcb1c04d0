"""Exceptions of cm_snakemake.

Every error the project raises derives from :class:`CMSnakemakeError`. Errors carry data
(paths, lines, keys, candidates); the command line and the Snakemake boundary turn them into
messages. Any other exception escaping the library is a bug.

Two families, as in doit: *user errors* (bad meta, unknown tags, bad flags; exit code 1) and
*script failures* (a CM script that ran and failed; exit code 2).
"""

from __future__ import annotations

from ._util.record import Record

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "EXIT_OK",
    "EXIT_SCRIPT_FAILED",
    "EXIT_USER_ERROR",
    "AmbiguousScript",
    "CMSnakemakeError",
    "ExternalLinkRefused",
    "MetaError",
    "NoScriptFound",
    "RepoError",
    "ScriptFailed",
    "TagConflict",
    "Unsupported",
    "UsageError",
    "Where",
]

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_SCRIPT_FAILED = 2


class Where(Record):
    """A place in a file: the path and, where known, the 1-based line."""

    __slots__ = ("line", "path")

    def __init__(self, path: str, line: int | None = None) -> None:
        self.path = path
        self.line = line

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class CMSnakemakeError(Exception):
    """Base of all errors raised by cm_snakemake."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.__cause__ is not None and not isinstance(self.__cause__, CMSnakemakeError):
            text += f" ({self.__cause__})"
        return text

    def render(self) -> str:
        """Return the full message for a person: what, where and what to do next."""
        return f"{self}\n{self.hint}" if self.hint else str(self)


class MetaError(CMSnakemakeError):
    """A meta file (script or repository) cannot be read or makes no sense."""

    def __init__(
        self, where: Where, message: str, *, key: str | None = None, hint: str | None = None
    ) -> None:
        prefix = f"{where}: " + (f"key '{key}': " if key else "")
        super().__init__(prefix + message, hint=hint)
        self.where = where
        self.key = key


class RepoError(CMSnakemakeError):
    """A script repository cannot be registered, found or removed."""


class ExternalLinkRefused(RepoError):
    """A path in a script repository is a link that leads outside the repository."""

    def __init__(self, link: str, target: str, *, root: str, script: str | None = None) -> None:
        from ._util.settings import name_of

        who = f"script '{script}': " if script else ""
        super().__init__(
            f"{who}{link} is a link to {target}, outside the repository {root}; it is not followed",
            hint="If you trust the repository, register it with 'cm-snakemake repo add "
            f"{root} --allow-external-links', or set {name_of('allow_external_links')}=1 to "
            "follow such links in every repository.",
        )
        self.link = link
        self.target = target
        self.root = root
        self.script = script


class UsageError(CMSnakemakeError):
    """The command line is wrong (unknown flag, missing argument, bad value)."""


class TagConflict(CMSnakemakeError):
    """A tag is requested both positively and negatively."""

    def __init__(self, tag: str) -> None:
        super().__init__(
            f"tag '{tag}' is requested both as '{tag}' and as '-{tag}'",
            hint="Remove one of the two from the request.",
        )
        self.tag = tag


class NoScriptFound(CMSnakemakeError):
    """No script matches a request."""

    def __init__(
        self,
        request: str,
        reason: str,
        *,
        close_tags: Sequence[str] = (),
        close_scripts: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        lines = [f"no script found for '{request}': {reason}"]
        if close_tags:
            lines.append("did you mean one of these tags: " + ", ".join(close_tags))
        if close_scripts:
            lines.append("close scripts: " + ", ".join(close_scripts))
        super().__init__(
            "\n".join(lines),
            hint=hint or 'Run "cm-snakemake list script" to see every script and its tags.',
        )
        self.request = request
        self.close_tags = tuple(close_tags)
        self.close_scripts = tuple(close_scripts)


class AmbiguousScript(CMSnakemakeError):
    """A request that needs exactly one script matches several."""

    def __init__(self, request: str, candidates: Sequence[str]) -> None:
        listing = "\n".join(f"  {c}" for c in candidates)
        super().__init__(
            f"'{request}' matches {len(candidates)} scripts:\n{listing}",
            hint="Pick one by alias (e.g. 'cm-snakemake show script "
            f"{candidates[0].split()[0]}') or add a tag that only it has.",
        )
        self.request = request
        self.candidates = tuple(candidates)


class Unsupported(CMSnakemakeError):
    """A script used a helper of CM's or MLC's that cm-snakemake refuses (on purpose or for
    now). Raised inside a hook, it reaches the person as a :class:`ScriptFailed` naming the
    script, the hook and the line (exit code 2)."""


class ScriptFailed(CMSnakemakeError):
    """A CM script ran and failed."""

    exit_code = EXIT_SCRIPT_FAILED

    def __init__(
        self,
        script: str,
        stage: str,
        message: str,
        *,
        returncode: int | None = None,
        log_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        text = f"script '{script}' failed in {stage}: {message}"
        if returncode is not None:
            text += f" (exit code {returncode})"
        if log_path:
            text += f"; log: {log_path}"
        super().__init__(text, hint=hint)
        self.script = script
        self.stage = stage
        self.returncode = returncode
        self.log_path = log_path
