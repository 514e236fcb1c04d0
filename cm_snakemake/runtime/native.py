r"""The native-script contract (docs/cm-behaviour.md §3.10): choose, wrap, run and read back.

* :func:`select_native_script` picks ``run-<flavor>-<version>-<platform>.sh`` ... ``run.sh``.
* :func:`write_wrapper` writes ``tmp-run.sh``: ``state['script_prefix']`` lines, then one
  ``export`` per env key, then sourcing the script. CM writes ``export K="value"``, and
  scripts rely on what bash makes of that: ``\$`` and ``\\`` lose their backslash, ``$VAR``
  and ``${VAR}`` expand (:func:`double_quoted`). The same happens here, except that nothing
  can run a command: ``$(...)``, backquotes and any other expansion stay literal text, and so
  does a ``"`` (which in CM would end the string). ``+NAME`` list keys are prepended to
  ``$NAME`` with the OS separator.
* :func:`read_env_out` reads ``tmp-run-env.out``, splitting each line on the *first* ``=``
  (CM keeps only the text up to a second ``=``).
* :func:`read_run_state` reads ``tmp-run-state.json``, the state a script hands back.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._util.secretenv import is_secret, split
from ..errors import CMSnakemakeError, ScriptFailed
from ..index.links import check_followed

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from ..meta.model import EnvValue

__all__ = [
    "ENV_OUT",
    "WRAPPER",
    "MissingScript",
    "explain_missing_script",
    "native_script_names",
    "read_env_out",
    "read_run_state",
    "run_native",
    "scrub_env_out",
    "run_wrapper",
    "select_native_script",
    "write_wrapper",
]

WRAPPER = "tmp-run.sh"
ENV_OUT = "tmp-run-env.out"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _host_fact(env: Mapping[str, EnvValue], env_prefix: str, name: str) -> str:
    value = env.get(f"{env_prefix}HOST_{name}", "")
    return value if isinstance(value, str) else ""


def native_script_names(
    base: str, env: Mapping[str, EnvValue], *, env_prefix: str = "CM_"
) -> list[str]:
    """The file names :func:`select_native_script` looks for, most specific first."""
    if os.name == "nt":
        return [f"{base}.bat"]
    flavor = _host_fact(env, env_prefix, "OS_FLAVOR")
    version = _host_fact(env, env_prefix, "OS_VERSION")
    platform = _host_fact(env, env_prefix, "PLATFORM_FLAVOR")
    names = [
        (flavor, version, platform),
        (flavor, platform),
        (flavor, version),
        (flavor,),
        (platform,),
        (),
    ]
    return ["-".join((base, *parts)) + ".sh" for parts in names if all(parts)]


def select_native_script(
    script_dir: Path, base: str, env: Mapping[str, EnvValue], *, env_prefix: str = "CM_"
) -> Path | None:
    """Return the most specific native script for this host, or None if there is none."""
    for name in native_script_names(base, env, env_prefix=env_prefix):
        candidate = script_dir / name
        if candidate.is_file():
            return candidate
    return None


# Words that make ``run-<word>.sh`` a script for another kind of host, not one that a
# variation's script_name picks (``run-nvidia.sh``, ``run-packed.sh``).
_HOST_WORDS = frozenset({"ubuntu", "debian", "rhel", "centos", "fedora", "rocky", "almalinux",
                         "amzn", "sles", "suse", "opensuse", "arch", "alpine", "linux", "macos",
                         "darwin", "windows", "x86_64", "aarch64", "arm64"})  # fmt: skip


@dataclass(frozen=True)
class MissingScript:
    """Why no native script was found; ``fatal`` when the run must stop."""

    fatal: bool
    message: str
    hint: str


def explain_missing_script(
    script_dir: Path,
    base: str,
    env: Mapping[str, EnvValue],
    *,
    env_prefix: str = "CM_",
    named: bool = False,
) -> MissingScript | None:
    """Explain a native script :func:`select_native_script` did not find.

    Fatal: a name looked for that is there but is no file (a dangling link, a folder), or a
    ``script_name`` (``named``) with no script. A warning: scripts for other hosts only
    (``run-macos.sh`` here); CM then runs none. None: no native script of this name at all
    (legal in CM), or only ``.bat`` scripts (Windows ones) on other systems.
    """
    looked = native_script_names(base, env, env_prefix=env_prefix)
    for name in looked:
        path = script_dir / name
        if not os.path.lexists(path):
            continue
        if path.is_symlink():
            what = f"a link to '{os.readlink(path)}', which does not exist"
        elif path.is_dir():
            what = "a folder, not a file"
        else:
            what = "not a regular file"
        hint = f"Make {path} the script itself, or a link to one that exists."
        return MissingScript(True, f"{name} in {script_dir} is {what}", hint)
    try:
        present = sorted(
            n
            for n in os.listdir(script_dir)
            if n.endswith((".sh", ".bat")) and not n.startswith("tmp-")
        )
    except OSError:
        present = []
    listing = ", ".join(looked)
    if named:
        found = f"; it has {', '.join(present)}" if present else ""
        return MissingScript(
            True,
            f"no native script '{base}' in {script_dir}: looked for {listing}{found}",
            f"Add {looked[-1]} to the folder, or make script_name (in the meta, a variation "
            "or customize.py) name a script the folder has.",
        )
    others = [
        n
        for n in present
        if n.startswith(f"{base}-")
        and n.endswith(".sh")
        and n[len(base) + 1 : -3].split("-")[0] in _HOST_WORDS
    ]
    if not others:
        return None
    flavor = _host_fact(env, env_prefix, "OS_FLAVOR")
    host = f"this host's OS flavor is '{flavor}'"
    if not flavor:
        host = f"{env_prefix}HOST_OS_FLAVOR is not set: add detect-os to the deps to choose by OS"
    return MissingScript(
        False,
        f"no native script for this host in {script_dir}: looked for {listing}; it has "
        f"{', '.join(others)}, so none runs, as in CM ({host})",
        f"Add {looked[-1]} (or {base}-<flavor>.sh) to the folder if the script needs one here.",
    )


_EXPANSION = re.compile(
    r"\$(?:[A-Za-z_][A-Za-z0-9_]*"  # $NAME
    r"|\{[A-Za-z_][A-Za-z0-9_]*(?:\[[0-9]+\])?"  # ${NAME} or ${NAME[0]}
    r"(?::?[-+=?][^}$`\\\"(]*)?\})"  # with a plain default: ${NAME:-text}
)


def double_quoted(text: str) -> str:
    r"""``text`` as a bash double-quoted word with CM's meaning and no command.

    Inside CM's ``export K="..."``: a backslash before ``$``, a backquote, ``"``, ``\\`` or a
    newline is dropped (the character stays); ``$NAME``, ``${NAME}``, ``${NAME[0]}`` and
    ``${NAME:-text}`` expand. Every other ``$``, every backquote and every ``"`` is kept as
    literal text here, so a value can never start a command substitution.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
            nxt = text[i + 1]
            out.append("" if nxt == "\n" else "\\" + nxt)  # the same escape, same meaning
            i += 2
            continue
        if char == "$":
            match = _EXPANSION.match(text, i)
            if match:
                out.append(match.group(0))
                i = match.end()
                continue
            out.append("\\$")
        elif char in '`"':
            out.append("\\" + char)
        elif char == "\\":
            out.append("\\\\" if i + 1 == len(text) else "\\")  # a final one: keep it
        else:
            out.append(char)
        i += 1
    return '"' + "".join(out) + '"'


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
            joined = double_quoted(sep.join(items)) if items else "''"
            lines.append(f'export {name}={joined}"${{{name}:+{sep}${{{name}}}}}"')
            continue
        if not _NAME.match(key):
            skipped.append(key)
            continue
        text = value if isinstance(value, str) else str(list(value))  # as CM writes lists
        lines.append(f"export {key}={double_quoted(text)}")
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

    Keys that are not shell variable names cannot be exported and are reported back. A
    ``script`` that is a link out of its repository is refused
    (:class:`~cm_snakemake.errors.ExternalLinkRefused`) unless that is allowed.
    """
    check_followed(str(script), script.parent.name)
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
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=timeout is not None,
        )
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
    except OSError as exc:  # a folder of that name, no permission
        raise CMSnakemakeError(
            f"{path} cannot be read: {exc.strerror or exc}",
            hint=f"The script must write {path.name} as a file of KEY=VALUE lines.",
        ) from None
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


@dataclass(frozen=True)
class NativeRun:
    """What a native script left: its exit code and, when it succeeded, its
    ``tmp-run-env.out`` values and the lines that are not ``KEY=VALUE``."""

    code: int
    values: dict[str, str]
    bad: list[str]


def run_native(
    workdir: Path,
    env: Mapping[str, EnvValue],
    script: Path,
    *,
    script_prefix: Iterable[str] = (),
    timeout: float | None = None,
) -> NativeRun:
    """Write ``tmp-run.sh`` and run it (:func:`write_wrapper`, :func:`run_wrapper`), secrets
    passed through the process environment, never written to the file; read
    ``tmp-run-env.out`` if the script succeeded, and remove secrets from it whatever happened
    (it stays in a cache entry, or in a failed job's folder). Raises :class:`TimedOut`."""
    public, secret = split(dict(env))
    write_wrapper(workdir, public, script, script_prefix=script_prefix)
    try:
        code = run_wrapper(workdir, timeout=timeout, base_env={**os.environ, **secret})
        values, bad = read_env_out(workdir / ENV_OUT) if code == 0 else ({}, [])
    finally:
        scrub_env_out(workdir / ENV_OUT)
    return NativeRun(code, values, bad)


def scrub_env_out(path: Path) -> None:
    """Remove the lines of secrets (``*_TOKEN=...``) from ``tmp-run-env.out``."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return
    kept = [line for line in lines if not is_secret(line.partition("=")[0].strip())]
    if len(kept) != len(lines):
        path.write_text(
            "".join(f"{line}\n" for line in kept), encoding="utf-8", errors="surrogateescape"
        )


RUN_STATE = "tmp-run-state.json"


def read_run_state(path: Path, *, script: str) -> dict[str, Any]:
    """Read the JSON object a native script of ``script`` left in ``path`` (``{}`` if none).

    Anything else (unreadable, not UTF-8, not JSON, a list or a number) is the script's
    failure: :class:`~cm_snakemake.errors.ScriptFailed`, naming the file.
    """
    hint = f"The native script writes {RUN_STATE}; it must hold one JSON object (the state)."
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ScriptFailed(
            script, "native script", f"{path} cannot be read ({exc.strerror})", hint=hint
        ) from None
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.start})"
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except ValueError as exc:  # a number with more digits than Python converts
        problem = f"not valid JSON ({exc})"
    except RecursionError:
        problem = "not valid JSON (nested too deeply)"
    else:
        if isinstance(value, dict):
            return value
        kind = "a list" if isinstance(value, list) else f"the {type(value).__name__} {value!r:.40}"
        problem = f"not a JSON object but {kind}"
    raise ScriptFailed(script, "native script", f"{path} is {problem}", hint=hint)
