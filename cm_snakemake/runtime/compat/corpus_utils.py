"""``utils`` for an MLC repository that ships no ``automation/utils.py`` of its own.

MLC scripts do ``from utils import is_true``: mlcflow answers from the ``automation/`` helpers
bundled with it. A repository such as MLCommons' ``mlperf-automations`` carries the same
helpers, and cm-snakemake puts that folder on ``sys.path``; a repository without one gets this
module, which has the two helpers most scripts import. Any other name raises
:class:`~.utils.UnsupportedHelper`.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .utils import UnsupportedHelper

__all__ = ["is_false", "is_true"]


def is_true(val: Any) -> bool:
    """``1``, ``true``, ``on`` or ``yes`` (any case)."""
    return str(val).lower() in ("1", "true", "on", "yes")


def is_false(val: Any) -> bool:
    """``0``, ``false``, ``off`` or ``no`` (any case)."""
    return str(val).lower() in ("0", "false", "off", "no")


def __getattr__(name: str) -> NoReturn:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise UnsupportedHelper(name, "utils (the MLC automation helpers)")
