"""The Plan: what the planner decided, immutable and JSON-serialisable.

A Plan is a DAG of :class:`PlanNode`. Each node is one run of one script with its full,
sorted-by-CM variation list, version constraints, the env it receives, and its dependencies in
CM order: *static* ones (their own nodes, so DAG edges) and *residual* ones (left for the
runtime, with the reason). Each node says why it exists and carries a content key: a hash over
everything that determines its result. Same meaning, same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._util.frozen import FrozenMap, freeze, thaw
from .._util.secretenv import conceal, reveal
from ..meta.model import to_jsonable
from .penv import Unknown

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Plan", "PlanNode", "ResidualDep", "StaticDep", "env_to_json", "hash_json"]

PLAN_FORMAT = 1


def hash_json(data: Any) -> str:
    """sha256 of the canonical JSON of ``data``."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def env_to_json(values: Mapping[str, Any]) -> FrozenMap[str, Any]:
    """Env values as (frozen) JSON data: ``{"$unknown": source}`` for unknowns.

    Tuples (``+KEY`` lists) stay tuples; JSON writes them as lists.
    """
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Unknown):
            result[key] = FrozenMap({"$unknown": value.source})
        else:
            result[key] = value
    return FrozenMap(result)


@dataclass(frozen=True, slots=True)
class StaticDep:
    """A dependency decided at plan time: an edge to node ``key``.

    ``tags`` are the tags it is called with; ``declared`` the entry's tags before the
    ``update_tags_*`` and ``inherit_variation_tags`` additions.
    """

    list: str
    tags: str
    key: str
    names: tuple[str, ...] = ()
    declared: str = ""
    dynamic: bool = False
    """CM runs a ``dynamic`` dependency even when its parent comes from the cache."""
    ident: str = ""
    """What the parent's key takes from this dependency (:func:`~.keys.node_ident`)."""
    inline: str = ""
    """Why the dependency runs inside its parent's job rather than in a job of its own
    (empty: a job of its own, an edge). See "Jobs and the env between them" in
    docs/architecture.md."""
    after: tuple[str, ...] = ()
    """Keys of dependencies called before it whose run-time exports it may read: its job
    runs after theirs and replays those values (docs/architecture.md)."""


@dataclass(frozen=True, slots=True)
class ResidualDep:
    """A dependency only run time can decide; the runtime evaluates it as CM would."""

    list: str
    tags: str
    reason: str
    spec: FrozenMap[str, Any]
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One run of one script.

    ``env`` is the env it receives from its caller; ``resolved_env`` the env after its own
    meta, variations, versions and patches are applied, just before its dependencies run.
    """

    key: str
    script: str
    alias: str
    uid: str
    path: str
    dialect: str
    variations: tuple[str, ...]
    explicit_variations: tuple[str, ...]
    versions: FrozenMap[str, str]
    cached: bool
    env: FrozenMap[str, Any]
    resolved_env: FrozenMap[str, Any]
    const: FrozenMap[str, Any]
    inputs: FrozenMap[str, Any]
    add_deps_recursive: FrozenMap[str, Any]
    add_deps: FrozenMap[str, Any]
    deps: tuple[StaticDep | ResidualDep, ...]
    new_env_keys: tuple[str, ...]
    why: tuple[str, ...]
    facts: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    meta_digest: str = ""
    files_digest: str = ""
    resources: FrozenMap[str, str] = field(default_factory=FrozenMap)
    """``resources:`` of the meta and variations: threads, mem_mb, runtime, gpus, disk_mb."""
    env_wildcards: tuple[tuple[str, str], ...] = ()
    """Keys of the received env only run time names: (pattern, what may write them)."""

    @property
    def static_deps(self) -> list[StaticDep]:
        return [d for d in self.deps if isinstance(d, StaticDep)]

    @property
    def residual_deps(self) -> list[ResidualDep]:
        return [d for d in self.deps if isinstance(d, ResidualDep)]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(self)
        data["deps"] = [
            {"kind": "static" if isinstance(d, StaticDep) else "residual", **to_jsonable(d)}
            for d in self.deps
        ]
        result: dict[str, Any] = conceal(data, only_given=True)  # a digest, not the value
        return result

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanNode:
        data = reveal(dict(data))  # secrets from the environment
        deps: list[StaticDep | ResidualDep] = []
        for d in data["deps"]:
            fields = {k: v for k, v in d.items() if k != "kind"}
            fields["names"] = tuple(fields.get("names", ()))
            if "after" in fields:
                fields["after"] = tuple(fields["after"])
            if d["kind"] == "static":
                deps.append(StaticDep(**fields))
            else:
                fields["spec"] = freeze(fields["spec"])
                deps.append(ResidualDep(**fields))
        values = dict(data)
        for name in (
            "variations",
            "explicit_variations",
            "why",
            "facts",
            "alternatives",
            "new_env_keys",
        ):
            values[name] = tuple(values.get(name, ()))
        for name in (
            "versions",
            "env",
            "resolved_env",
            "const",
            "inputs",
            "add_deps_recursive",
            "add_deps",
            "resources",
        ):
            values[name] = freeze(values.get(name, {}))
        values["deps"] = tuple(deps)
        values["env_wildcards"] = tuple(
            (str(p), str(w)) for p, w in values.get("env_wildcards", ())
        )
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Plan:
    """A planned request: its root node and every node by key, dependencies first."""

    request: str
    root: str
    nodes: FrozenMap[str, PlanNode]
    facts: FrozenMap[str, Any] = field(default_factory=FrozenMap)
    notes: tuple[str, ...] = ()

    def node(self, key: str) -> PlanNode:
        return self.nodes[key]

    def stats(self) -> dict[str, int | float]:
        """Node and dependency counts, and the share decided statically."""
        static = sum(len(n.static_deps) for n in self.nodes.values())
        residual = sum(len(n.residual_deps) for n in self.nodes.values())
        inline = sum(bool(d.inline) for n in self.nodes.values() for d in n.static_deps)
        total = static + residual
        jobs: set[str] = set()
        todo = [self.root] if self.root in self.nodes else []
        while todo:  # the nodes a compiled run gives jobs of their own
            key = todo.pop()
            if key not in jobs:
                jobs.add(key)
                todo += [d.key for d in self.nodes[key].static_deps if not d.inline]
        return {
            "nodes": len(self.nodes),
            "jobs": len(jobs),
            "cached_nodes": sum(n.cached for n in self.nodes.values()),
            "static_deps": static,
            "in_parent_job_deps": inline,
            "residual_deps": residual,
            "static_share": round(static / total, 3) if total else 1.0,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "request": self.request,
            "root": self.root,
            "facts": thaw(self.facts),
            "notes": list(self.notes),
            "stats": self.stats(),
            "nodes": [n.to_json() for n in self.nodes.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        nodes = {n["key"]: PlanNode.from_json(n) for n in data["nodes"]}
        return cls(
            request=data["request"],
            root=data["root"],
            nodes=FrozenMap(nodes),
            facts=freeze(data.get("facts", {})),
            notes=tuple(data.get("notes", ())),
        )
