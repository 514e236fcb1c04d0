"""Running ``customize.py`` hooks: ``predeps``, ``preprocess``, ``postprocess``.

A script's ``customize.py`` is imported from its folder as a private module. While it is
imported and while a hook runs, the names ``cmind`` and ``mlc`` (and their ``utils``) resolve to
this project's compatibility layer, even when the real packages are installed, so a nested
``access`` run goes through our planner, runtime and cache; and ``sys.path`` holds what CM and
mlcflow put there (:class:`HookPaths`, docs/cm-behaviour.md §8.6). An exception in a hook
becomes a :class:`~cm_snakemake.errors.ScriptFailed` that names the script, the hook and the
line of the script's own code; so does a helper the compatibility layer refuses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import struct
import sys
import traceback
import zlib
from typing import TYPE_CHECKING, Any

from .._util.record import Record
from ..errors import CMSnakemakeError, ScriptFailed, Unsupported
from ..index.links import check_followed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

__all__ = ["HookPaths", "call_hook", "compat_modules", "load_customize", "os_info"]

_COMPAT_NAMES = ("cmind", "cmind.utils", "mlc", "mlc.utils", "utils")


class HookPaths(Record):
    """What is on ``sys.path`` while a script's ``customize.py`` is imported and its hooks run.

    ``folders``: the script's own folder (mlcflow puts it there, so one script's helpers can
    import another's), the ``automation/`` folder of an MLC repository (where ``from utils
    import ...`` finds the repository's helpers, as mlcflow arranges), and the entries of the
    live env's ``+PYTHONPATH`` (what dependencies such as ``get-mlperf-inference-utils`` add
    for the rest of the run; under CM they share the process, here a job may not).
    ``helpers``: whether ``utils`` must be our stand-in because the repository has none.
    """

    __slots__ = ("folders", "helpers")

    def __init__(self, folders: tuple[str, ...] = (), helpers: bool = False) -> None:
        self.folders = folders
        self.helpers = helpers

    @classmethod
    def of(cls, script_dir: str, mlc: bool, pythonpath: object = ()) -> HookPaths:
        folders = [script_dir]
        helpers = False
        if mlc:
            automation = os.path.join(os.path.dirname(os.path.dirname(script_dir)), "automation")
            if os.path.isfile(os.path.join(automation, "utils.py")):
                folders.append(automation)
            else:
                helpers = True
        extra = pythonpath if isinstance(pythonpath, list | tuple) else [pythonpath]
        folders += [str(p) for p in extra if p and str(p) not in folders]
        return cls(tuple(folders), helpers)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Put the folders first on ``sys.path``; take out afterwards only what this added
        (a hook may extend ``sys.path`` for later hooks, as CM's do)."""
        added = [f for f in self.folders if f not in sys.path]
        sys.path[:0] = added
        try:
            yield
        finally:
            for folder in added:
                with contextlib.suppress(ValueError):
                    sys.path.remove(folder)


def os_info() -> dict[str, Any]:
    """The ``os_info`` dict CM passes to hooks."""
    windows = os.name == "nt"
    return {
        "platform": "windows" if windows else platform.system().lower(),
        "bat_ext": ".bat" if windows else ".sh",
        "bits": str(struct.calcsize("P") * 8),
        "python_bits": str(struct.calcsize("P") * 8),
        "env_separator": os.pathsep,
        "env_var": "%env_var%" if windows else "${env_var}",
        "set_env": "set ${key}=${value}" if windows else 'export ${key}="${value}"',
        "run_local_bat": "call ${bat_file}" if windows else "source ${bat_file}",
        "run_bat": "call ${bat_file}" if windows else "source ${bat_file}",
        "run_local_bat_from_python": "call ${bat_file}" if windows else 'bash -c ". ./${bat_file}"',
        "start_script": [] if windows else ["#!/bin/bash", ""],
        "redirect_to_null": " > NUL" if windows else " > /dev/null",
        "add_path": "set PATH=${path_to_add};%PATH%"
        if windows
        else 'export PATH=${path_to_add}:"${PATH}"',
    }


@contextlib.contextmanager
def compat_modules(paths: HookPaths | None = None) -> Iterator[None]:
    """Make ``cmind``/``mlc`` resolve to the compatibility layer for the duration, with
    ``paths`` on ``sys.path``."""
    from .compat import cmind as compat
    from .compat import corpus_utils

    saved = {name: sys.modules.get(name) for name in _COMPAT_NAMES}
    sys.modules["cmind"] = compat.module
    sys.modules["cmind.utils"] = compat.utils_module
    sys.modules["mlc"] = compat.mlc_module
    sys.modules["mlc.utils"] = compat.mlc_module.utils
    if paths is not None and paths.helpers:
        sys.modules["utils"] = corpus_utils
    else:
        saved.pop("utils")
    try:
        with (paths or HookPaths()).active():
            yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


_LOADED: dict[str, ModuleType] = {}


def load_customize(
    script_dir: str, script: str, paths: HookPaths | None = None
) -> ModuleType | None:
    """Import ``customize.py`` of ``script_dir`` (once per process), or None if there is none.

    A ``customize.py`` that is a link out of its repository is refused
    (:class:`~cm_snakemake.errors.ExternalLinkRefused`) unless that is allowed.
    """
    path = os.path.join(script_dir, "customize.py")
    if not os.path.isfile(path):
        return None
    check_followed(path, script)
    found = _LOADED.get(path)
    if found is not None:
        return found
    name = f"cmsm_customize_{zlib.crc32(path.encode()):08x}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScriptFailed(script, "customize.py", f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    with compat_modules(paths):
        try:
            spec.loader.exec_module(module)
        except CMSnakemakeError as exc:
            raise _refused(exc, script, "customize.py import", path) from None
        except Exception as exc:
            raise ScriptFailed(script, "customize.py import", _describe(exc, path)) from None
    _LOADED[path] = module
    return module


def _describe(exc: BaseException, path: str) -> str:
    """One line: the exception and the line of the script's own file where it happened."""
    return _describe_message(f"{type(exc).__name__}: {exc}", exc, path)


def _describe_message(message: str, exc: BaseException, path: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    return f"{message} at {path}:{frames[-1].lineno}" if frames else message


def _refused(exc: CMSnakemakeError, script: str, hook: str, path: str) -> CMSnakemakeError:
    """A helper the compatibility layer refuses, as a script failure naming hook and line."""
    if not isinstance(exc, Unsupported):
        return exc
    failed = ScriptFailed(script, hook, _describe_message(exc.message, exc, path), hint=exc.hint)
    failed.__cause__ = exc.__cause__
    return failed


def call_hook(
    module: ModuleType,
    hook: str,
    i: dict[str, Any],
    script: str,
    paths: HookPaths | None = None,
) -> dict[str, Any]:
    """Call ``hook(i)`` with CM's contract: a dict with ``return`` 0, or an error."""
    function = getattr(module, hook, None)
    if function is None:
        return {"return": 0}
    path = getattr(module, "__file__", "customize.py") or "customize.py"
    with compat_modules(paths):
        try:
            result = function(i)
        except CMSnakemakeError as exc:
            raise _refused(exc, script, hook, path) from None
        except Exception as exc:
            raise ScriptFailed(script, hook, _describe(exc, path)) from None
    if not isinstance(result, dict):
        raise ScriptFailed(script, hook, f"returned {type(result).__name__}, not a dict")
    code = result.get("return", 0)
    if code:
        raise ScriptFailed(script, hook, str(result.get("error", "failed")), returncode=int(code))
    return result
