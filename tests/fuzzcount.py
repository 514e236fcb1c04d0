"""Generated cases run per fuzzing target (``tests/unit/test_fuzz.py``) and the time they took.

``tests/conftest.py`` prints them at the end of the session when the fuzz tests ran.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CASES", "SECONDS", "case", "summary", "timed"]

CASES: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()


@contextmanager
def case(target: str) -> Iterator[None]:
    """Count one generated case of ``target`` (also when the case fails)."""
    try:
        yield
    finally:
        CASES[target] += 1


@contextmanager
def timed() -> Iterator[None]:
    """Time one test, generation of its cases included, and credit it to its target(s)."""
    before = CASES.copy()
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        targets = [t for t in CASES if CASES[t] != before[t]]
        for target in targets:
            SECONDS[target] += elapsed / len(targets)


def summary() -> str:
    """``fuzzing: meta loader 1200 cases (3.1 s), ...`` or "" when nothing ran."""
    if not CASES:
        return ""
    parts = [f"{target} {n} cases ({SECONDS[target]:.1f} s)" for target, n in CASES.items()]
    total = f"; {sum(CASES.values())} cases in {sum(SECONDS.values()):.1f} s"
    return "fuzzing: " + ", ".join(parts) + total
