"""The native-script contract (cm-semantics §3.13): choose, wrap, run and read back.

* :func:`select_native_script` picks ``run-<flavor>-<version>-<platform>.sh`` ... ``run.sh``.
* :func:`write_wrapper` writes ``tmp-run.sh``: ``state['script_prefix']`` lines, then one
  ``export`` per env key, then sourcing the script. Unlike CM, every value is quoted with
  :func:`shlex.quote`, so quotes, ``$(...)``, backquotes and newlines arrive unchanged and
  never run. ``+NAME`` list keys are prepended to ``$NAME`` with the OS separator.
* :func:`read_env_out` reads ``tmp-run-env.out``, splitting each line on the *first* ``=``
  (CM keeps only the text up to a second ``=``).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from ..meta import EnvValue

__all__ = [
    "ENV_OUT",
    "WRAPPER",
    "read_env_out",
    "run_wrapper",
    "select_native_script",
    "write_wrapper",
]

WRAPPER = "tmp-run.sh"
ENV_OUT = "tmp-run-env.out"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def select_native_script(
    script_dir: Path, base: str, env: Mapping[str, EnvValue], *, env_prefix: str = "CM_"
) -> Path | None:
    """Return the most specific native script for this host, or None if there is none."""

    def fact(name: str) -> str:
        value = env.get(f"{env_prefix}HOST_{name}", "")
        return value if isinstance(value, str) else ""

    if os.name == "nt":
        candidate = script_dir / f"{base}.bat"
        return candidate if candidate.is_file() else None
    flavor, version, platform = fact("OS_FLAVOR"), fact("OS_VERSION"), fact("PLATFORM_FLAVOR")
    names = [
        (flavor, version, platform),
        (flavor, platform),
        (flavor, version),
        (flavor,),
        (platform,),
        (),
    ]
    for parts in names:
        if not all(parts):
            continue
        candidate = script_dir / ("-".join((base, *parts)) + ".sh")
        if candidate.is_file():
            return candidate
    return None


def _export_lines(env: Mapping[str, EnvValue], separator: str) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    skipped: list[str] = []
    for key in sorted(env):
        value = env[key]
        if key.startswith("+"):
            name = key[1:]
            sep = separator
            if name and not name[0].isalnum() and name[0] != "_":  # "+ CFLAGS": sep is " "
                sep, name = name[0], name[1:].strip()
            if not _NAME.match(name):
                skipped.append(key)
                continue
            items = list(value) if isinstance(value, tuple | list) else [value]
            joined = shlex.quote(sep.join(items)) if items else "''"
            lines.append(f'export {name}={joined}"${{{name}:+{sep}${{{name}}}}}"')
            continue
        if not _NAME.match(key):
            skipped.append(key)
            continue
        text = value if isinstance(value, str) else str(list(value))  # as CM writes lists
        lines.append(f"export {key}={shlex.quote(text)}")
    return lines, skipped


def write_wrapper(
    workdir: Path,
    env: Mapping[str, EnvValue],
    script: Path,
    *,
    script_prefix: Iterable[str] = (),
    separator: str = os.pathsep,
) -> tuple[Path, list[str]]:
    """Write ``tmp-run.sh`` into ``workdir``; return its path and the env keys left out.

    Keys that are not shell variable names cannot be exported and are reported back.
    """
    lines, skipped = _export_lines(env, separator)
    body = ["#!/bin/bash", "", *script_prefix, "", *lines, "", f". {shlex.quote(str(script))}", ""]
    path = workdir / WRAPPER
    path.write_text("\n".join(body), encoding="utf-8")
    return path, skipped


class TimedOut(Exception):
    """The native script ran longer than its time limit and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s")
        self.seconds = seconds


GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL when a script is stopped


def run_wrapper(
    workdir: Path,
    *,
    base_env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``tmp-run.sh`` in ``workdir`` with bash; return the exit code.

    Output goes to ``log`` if given (and is also the caller's to show), else is inherited.
    With ``timeout`` (seconds) the script runs in a process group of its own, which is
    stopped (SIGTERM, then SIGKILL) when the time is up; :class:`TimedOut` is raised.
    """
    command = ["bash", "-c", f". ./{WRAPPER}"]
    env = dict(os.environ if base_env is None else base_env)
    out = open(log, "ab") if log is not None else None
    try:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=timeout is not None,
        )  # fmt: skip
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise TimedOut(timeout or 0) from None
        except BaseException:
            if timeout is not None:  # its own group: an interrupt would not reach it
                _stop_group(process)
            raise
    finally:
        if out is not None:
            out.close()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def read_env_out(path: Path) -> tuple[dict[str, str], list[str]]:
    """Read ``KEY=VALUE`` lines; return the values and the lines that are not of that form."""
    result: dict[str, str] = {}
    bad: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return result, bad
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            bad.append(line)
            continue
        result[key] = value.strip()
    return result, bad
