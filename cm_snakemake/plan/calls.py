"""One script call: the input of one script run, as CM builds it for a request or a dependency.

A :class:`Call` is what the planner prepares and the runtime runs. It is built in three ways:
:func:`root_call` for a request with command-line inputs, the dependency walk for a child
(:mod:`cm_snakemake.plan.deps`), and :func:`planned_call` for a node of a compiled plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._util.frozen import freeze, thaw
from ..errors import CMSnakemakeError
from ..meta.tags import TagQuery
from .penv import PEnv, PValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import PlanNode

__all__ = ["Call", "PlanError", "call_key", "env_text", "planned_call", "root_call"]


class PlanError(CMSnakemakeError):
    """A request cannot be planned; the message names the script and the dependency path."""


@dataclass(frozen=True)
class Call:
    """The input of one script run (docs/cm-behaviour.md §4.1: what a dependency call gets).

    Never changed after it is made: whoever needs a different env copies ``env``.
    """

    query: TagQuery
    env: PEnv
    const: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    adr: Mapping[str, Any] = field(default_factory=dict)
    ad: Mapping[str, Any] = field(default_factory=dict)
    why: str = "the request"
    path: tuple[str, ...] = ()
    local_env: Mapping[str, Any] = field(default_factory=dict)
    artifact: str | None = None
    tags: str = ""


def env_text(value: Any) -> PValue:
    """An input or meta value as env text: lists stay lists, booleans become yes/no."""
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def root_call(
    request: str | TagQuery, inputs: Mapping[str, Any] | None = None, *, artifact: str | None = None
) -> Call:
    """The call for a top-level request with CLI-style inputs (``env``, ``const``, ``adr``...)."""
    query = request if isinstance(request, TagQuery) else TagQuery.parse(request)
    rest = dict(inputs or {})
    env = PEnv({k: env_text(v) for k, v in _mapping_input(rest, "env").items()})
    const = {k: env_text(v) for k, v in _mapping_input(rest, "const").items()}
    env.update(const)
    adr = thaw(_mapping_input(rest, "adr") or _mapping_input(rest, "add_deps_recursive"))
    ad = thaw(_mapping_input(rest, "ad") or _mapping_input(rest, "add_deps"))
    return Call(query, env, const, rest, adr, ad, artifact=artifact)


def _mapping_input(inputs: dict[str, Any], name: str) -> Mapping[str, Any]:
    """Take input ``name``, which must be a mapping (``--env.KEY=V``, ``--adr.NAME.KEY=V``)."""
    value = inputs.pop(name, None)
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise PlanError(
            f"input '{name}' must be a mapping of names to values, not {value!r:.60}",
            hint=f"Give it as --{name}.NAME=VALUE.",
        )
    return value


def planned_call(node: PlanNode, *, env: Mapping[str, Any] | None = None) -> Call:
    """The call that runs ``node`` as planned: its script, full variation list, versions,
    inputs, const, patches and the known part of the env it receives (or ``env``, the env
    its job replayed)."""
    values = node.env if env is None else env
    penv = PEnv(
        {
            k: tuple(v) if isinstance(v, list | tuple) else v
            for k, v in values.items()
            if not isinstance(v, Mapping)
        }
    )
    inputs = {**thaw(node.inputs), **thaw(node.versions)}
    return Call(
        TagQuery(variations=node.variations),
        penv,
        thaw(node.const),
        inputs,
        thaw(node.add_deps_recursive),
        thaw(node.add_deps),
        why="a planned job",
        artifact=node.script,
    )


def call_key(call: Call) -> tuple[object, ...]:
    """Everything a call's plan depends on, hashable (the reason and path are not part)."""
    return (
        str(call.query),
        call.artifact,
        frozenset(call.env.items()),
        call.env.wildcards,
        freeze(call.const),
        freeze(call.inputs),
        freeze(call.adr),
        freeze(call.ad),
        freeze(call.local_env),
    )
