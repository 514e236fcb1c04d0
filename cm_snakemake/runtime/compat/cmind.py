"""The ``cmind`` (and ``mlc``) module that ``customize.py`` files see while they run.

``module`` stands in for ``import cmind`` / ``import mlc`` and ``utils_module`` for
``from cmind import utils``. ``cmind.access`` supports what scripts use it for that belongs to
running scripts: ``{'action': 'run', 'automation': 'script', ...}`` runs a nested script
through the runtime that is running the hook (same planner, same cache), with CM's contract
(the caller's ``env`` and ``state`` dicts receive the nested script's exports). Any other
action raises a clear "not supported" error naming the action.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import types
from collections.abc import Callable
from typing import Any

from ...errors import CMSnakemakeError
from . import utils as _utils

__all__ = ["CURRENT_RUNNER", "UnsupportedAccess", "module", "utils_module"]

NestedRun = Callable[[dict[str, Any]], dict[str, Any]]

CURRENT_RUNNER: contextvars.ContextVar[NestedRun | None] = contextvars.ContextVar(
    "cmsm_nested_runner", default=None
)


class UnsupportedAccess(CMSnakemakeError):
    """A ``cmind.access`` call the compatibility layer does not provide."""


def access(i: Any) -> dict[str, Any]:
    """``cmind.access``: nested script runs; anything else is reported as not supported."""
    if isinstance(i, str):
        raise UnsupportedAccess(f"not supported: cmind.access with a command line ('{i}')")
    action = str(i.get("action", ""))
    automation = str(i.get("automation", "")).split(",")[0]
    if action == "run" and automation == "script":
        runner = CURRENT_RUNNER.get()
        if runner is None:
            raise UnsupportedAccess("cmind.access run script called outside a script run")
        return runner(i)
    if action == "version":
        return {"return": 0, "version": module.__version__}
    raise UnsupportedAccess(
        f"not supported: cmind.access action '{action}' on automation '{automation}'",
        hint="cm-snakemake runs nested scripts (action 'run', automation 'script'); "
        "see docs/compatibility.md.",
    )


module = types.ModuleType("cmind", "cm-snakemake's stand-in for the cmind package")
module.__dict__.update(
    {
        "access": access,
        "utils": _utils,
        "__version__": "4.2.0",
        "logger": logging.getLogger("cm_snakemake.script"),
    }
)
utils_module = sys.modules.get(_utils.__name__, _utils)
