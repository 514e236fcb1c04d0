"""Which caller's env a job replays, and which jobs must finish before it.

In one process a dependency receives its caller's live env: what the plan knew, plus the
run-time exports of the dependencies called before it. A job of its own gets the same env by
replaying its callers' dependency walks up to it from the result files of the earlier
dependencies whose exports it may read (``runtime/replay.py``); so those jobs are inputs of it
too.

A node reached by several callers gets the env of the first, in the order of a one-process
run (depth first, dependencies in order), as CM's first call makes the cache entry the later
ones reuse. Only dependencies with jobs of their own count: one that runs inside its parent's
job (``inline``) is run, with its subtree, by that job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Callers", "callers_of"]


def _job_deps(node: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``node``'s dependencies that have jobs of their own, in order."""
    return [
        d
        for d in node["deps"]
        if d["kind"] == "static" and not d.get("inline") and d["key"] in nodes
    ]


@dataclass
class Callers:
    """Each node's first caller, and the jobs its replay reads."""

    parent: dict[str, str] = field(default_factory=dict)
    before: dict[str, list[str]] = field(default_factory=dict)
    """For a node: the jobs its first caller called before it whose run-time exports it may
    read (the planner's ``after``; the replay reads their results)."""

    def chain(self, key: str) -> list[str]:
        """The callers of ``key`` from the root down to its first caller."""
        chain: list[str] = []
        while key in self.parent:
            key = self.parent[key]
            chain.append(key)
        return chain[::-1]

    def replay_inputs(self, key: str) -> list[str]:
        """Every job whose result the replay of ``key``'s callers reads."""
        found: list[str] = []
        node = key
        while node in self.parent:
            found.extend(k for k in self.before.get(node, []) if k not in found)
            node = self.parent[node]
        return found


def callers_of(roots: list[str], nodes: dict[str, dict[str, Any]]) -> Callers:
    """The first caller of every job reachable from ``roots`` (a one-process run's order)."""
    result = Callers()
    seen: set[str] = set()

    def visit(key: str) -> None:  # plans nest at most as deep as the planner allows
        for dep in _job_deps(nodes[key], nodes):
            child = dep["key"]
            if child in seen:
                continue
            seen.add(child)
            result.parent[child] = key
            result.before[child] = [k for k in dep.get("after", ()) if k in nodes]
            visit(child)

    for root in roots:
        if root in nodes and root not in seen:
            seen.add(root)
            visit(root)
    return result
