"""Progress and diagnostics through an observer: the library never prints.

The core calls a :class:`Reporter`; the command line installs :class:`ConsoleReporter`,
tests install :class:`RecordingReporter`, and library users get :class:`NullReporter`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["ConsoleReporter", "NullReporter", "RecordingReporter", "Reporter"]


class Reporter:
    """Events of interest to a person watching. Every method is a no-op here."""

    def note(self, message: str) -> None:
        """Something worth knowing that needs no action."""

    def warning(self, message: str) -> None:
        """Something that is probably wrong but does not stop the work."""

    def info(self, message: str) -> None:
        """A result a script asks to show (CM's ``print_env_at_the_end``)."""

    def script_chosen(self, request: str, chosen: str, others: list[str]) -> None:
        """Several scripts matched ``request``; ``chosen`` was taken by CM's order."""

    def stage(self, script: str, stage: str) -> None:
        """``script`` enters ``stage`` (deps, preprocess, run, postprocess, ...)."""


NullReporter = Reporter


class ConsoleReporter(Reporter):
    """Writes notes and warnings to a stream (standard error by default)."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose

    def note(self, message: str) -> None:
        if self.verbose:
            print(f"note: {message}", file=self.stream)

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=self.stream)

    def info(self, message: str) -> None:
        print(message, file=self.stream)

    def script_chosen(self, request: str, chosen: str, others: list[str]) -> None:
        print(
            f"note: '{request}' matches {len(others) + 1} scripts; using {chosen} "
            f"(CM order: sort, then path). Others: {', '.join(others)}",
            file=self.stream,
        )

    def stage(self, script: str, stage: str) -> None:
        if self.verbose:
            print(f"[{script}] {stage}", file=self.stream)


class RecordingReporter(Reporter):
    """Keeps every event as ``(kind, text)`` for tests to assert on."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def note(self, message: str) -> None:
        self.events.append(("note", message))

    def warning(self, message: str) -> None:
        self.events.append(("warning", message))

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def script_chosen(self, request: str, chosen: str, others: list[str]) -> None:
        self.events.append(("chosen", f"{request} -> {chosen}"))

    def stage(self, script: str, stage: str) -> None:
        self.events.append(("stage", f"{script}:{stage}"))

    def of(self, kind: str) -> list[str]:
        return [text for k, text in self.events if k == kind]
