"""Running ``customize.py`` hooks: ``predeps``, ``preprocess``, ``postprocess``.

A script's ``customize.py`` is imported from its folder as a private module. While it is
imported and while a hook runs, the names ``cmind`` and ``mlc`` (and their ``utils``) resolve to
this project's compatibility layer, even when the real packages are installed, so a nested
``cmind.access`` run goes through our planner, runtime and cache. An exception in a hook becomes
a :class:`~cm_snakemake.errors.ScriptFailed` that names the script, the hook and the line of
the script's own code.
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

from ..errors import CMSnakemakeError, ScriptFailed
from ..index.links import check_followed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

__all__ = ["call_hook", "compat_modules", "load_customize", "os_info"]

_COMPAT_NAMES = ("cmind", "cmind.utils", "mlc", "mlc.utils")


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
def compat_modules() -> Iterator[None]:
    """Make ``cmind``/``mlc`` resolve to the compatibility layer for the duration."""
    from .compat import cmind as compat

    saved = {name: sys.modules.get(name) for name in _COMPAT_NAMES}
    sys.modules["cmind"] = compat.module
    sys.modules["cmind.utils"] = compat.utils_module
    sys.modules["mlc"] = compat.module
    sys.modules["mlc.utils"] = compat.utils_module
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


_LOADED: dict[str, ModuleType] = {}


def load_customize(script_dir: str, script: str) -> ModuleType | None:
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
    with compat_modules():
        try:
            spec.loader.exec_module(module)
        except CMSnakemakeError:
            raise
        except Exception as exc:
            raise ScriptFailed(script, "customize.py import", _describe(exc, path)) from None
    _LOADED[path] = module
    return module


def _describe(exc: BaseException, path: str) -> str:
    """One line: the exception and the line of the script's own file where it happened."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    where = f" at {path}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def call_hook(module: ModuleType, hook: str, i: dict[str, Any], script: str) -> dict[str, Any]:
    """Call ``hook(i)`` with CM's contract: a dict with ``return`` 0, or an error."""
    function = getattr(module, hook, None)
    if function is None:
        return {"return": 0}
    path = getattr(module, "__file__", "customize.py") or "customize.py"
    with compat_modules():
        try:
            result = function(i)
        except CMSnakemakeError:
            raise
        except Exception as exc:
            raise ScriptFailed(script, hook, _describe(exc, path)) from None
    if not isinstance(result, dict):
        raise ScriptFailed(script, hook, f"returned {type(result).__name__}, not a dict")
    code = result.get("return", 0)
    if code:
        raise ScriptFailed(script, hook, str(result.get("error", "failed")), returncode=int(code))
    return result
