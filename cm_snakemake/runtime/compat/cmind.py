"""The ``cmind`` and ``mlc`` modules that ``customize.py`` files see while they run.

``module`` stands in for ``import cmind`` (with ``utils_module`` for ``from cmind import
utils``) and ``mlc_module`` for ``import mlc`` (with MLC's own ``mlc.utils``). ``access`` hands
every request to the script run whose hook is running (:mod:`cm_snakemake.runtime.access`):
nested script runs, searches, downloads and the other actions the corpora use, with CM's and
MLC's result contract. Outside a script run it raises a clear error.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import types
from collections.abc import Callable
from typing import Any

from ...errors import Unsupported
from . import mlc_utils as _mlc_utils
from . import utils as _utils

__all__ = ["CURRENT_RUNNER", "UnsupportedAccess", "mlc_module", "module", "utils_module"]

NestedRun = Callable[[dict[str, Any]], dict[str, Any]]

CURRENT_RUNNER: contextvars.ContextVar[NestedRun | None] = contextvars.ContextVar(
    "cmsm_nested_runner", default=None
)


class UnsupportedAccess(Unsupported):
    """A ``cmind.access`` / ``mlc.access`` call the compatibility layer does not provide."""


def access(i: Any) -> dict[str, Any]:
    """``cmind.access`` / ``mlc.access``: handled by the script run whose hook calls it."""
    if isinstance(i, str):
        raise UnsupportedAccess(f"not supported: access with a command line ('{i}')")
    if str(i.get("action", "")) == "version":
        return {"return": 0, "version": module.__version__}
    runner = CURRENT_RUNNER.get()
    if runner is None:
        raise UnsupportedAccess("cmind.access called outside a script run")
    return runner(i)


_logger = logging.getLogger("cm_snakemake.script")
module = types.ModuleType("cmind", "cm-snakemake's stand-in for the cmind package")
module.__dict__.update(
    {"access": access, "utils": _utils, "__version__": "4.2.0", "logger": _logger}
)
utils_module = sys.modules.get(_utils.__name__, _utils)
mlc_module = types.ModuleType("mlc", "cm-snakemake's stand-in for the mlc package (mlcflow)")
mlc_module.__dict__.update(
    {"access": access, "utils": _mlc_utils, "__version__": "1.3.8", "logger": _logger}
)
