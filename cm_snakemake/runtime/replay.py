"""The env a planned job receives: the plan's known values, and the run-time ones replayed.

A dependency with a job of its own receives in one process its caller's live env at the point
of the call. The plan knows part of it; each value it does not know comes, by the planner's
rule (``Planner._inline``), from the run-time exports of jobs that ran before: dependencies
called earlier by the same caller, or (through the caller's own env) by its callers. So the
job takes the planned env and fills each unknown value from the result files of those jobs,
merged in CM's order, starting at the root (whose env the plan knows) and going down its
chain of first callers (``compile/callers.py``). After each of those results, as in one
process, the placeholders (``<<<KEY>>>``) in the running env are expanded and const imposed.
The state is built the same way.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from .._util.frozen import thaw
from ..errors import ScriptFailed
from ..plan.calls import Call, planned_call
from ..plan.deps import after_child
from ..plan.merge import merge_dicts
from ..plan.model import StaticDep
from ..plan.penv import live_env, plain_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..plan.model import Plan, PlanNode
    from .runner import Runtime

__all__ = ["replayed_call"]


def _merge(target: dict[str, Any], values: Any) -> None:
    merge_dicts(target, dict(values), append_lists=True, append_unique=True)


def _filled(node: PlanNode, live: dict[str, Any]) -> dict[str, Any]:
    """``node``'s planned env with each unknown value (and each key an unknown wildcard write
    may have made) taken from ``live``; a value the run did not write stays unset."""
    env: dict[str, Any] = {}
    for key, value in node.env.items():
        if isinstance(value, Mapping) and "$unknown" in value:
            if key in live:
                env[key] = live[key]
        else:
            env[key] = thaw(value)
    return env


def replayed_call(
    runtime: Runtime,
    plan: Plan,
    key: str,
    chain: list[str],
    root_state: Mapping[str, Any] | None = None,
) -> tuple[Call, dict[str, Any]]:
    """The call (and state) that runs node ``key``, replaying its ``chain`` of callers (root
    first; the root called with ``root_state``). Without a chain, the plan's call."""
    node = plan.node(key)
    state: dict[str, Any] = json.loads(json.dumps(root_state or {}))  # a copy of plain data
    if not chain:
        return planned_call(node), state
    live = _filled(plan.node(chain[0]), {})
    for parent_key, child_key in zip(chain, [*chain[1:], key], strict=True):
        parent = plan.node(parent_key)
        start = runtime.planner.start(planned_call(parent, env=live))
        _merge(state, thaw(start.state))
        _merge(state, thaw(start.const_state))
        running = plain_env(start.env())  # its env after its meta and variations
        edge = next(
            d
            for d in parent.deps
            if isinstance(d, StaticDep) and d.key == child_key and not d.inline
        )
        for dep in parent.deps:
            if dep is edge:
                break
            if not isinstance(dep, StaticDep) or dep.key not in edge.after:
                continue  # nothing it writes reaches the child
            result = runtime.planned_result(dep.key)
            if result is None:
                raise ScriptFailed(
                    node.script,
                    "deps",
                    f"the result of '{dep.tags}' ({dep.key[:12]}), which {parent.alias} "
                    "calls before it, is missing",
                    hint="Run the workflow through Snakemake, which runs those jobs first.",
                )
            _merge(running, result.new_env)
            _merge(state, result.new_state)
            env = live_env(running)  # as after each dependency: placeholders, const
            after_child(env, {}, start.const)
            running = plain_env(env)
        child = plan.node(child_key)
        live = _filled(child, running)
        for pattern, _ in child.env_wildcards:
            for name, value in running.items():
                if name not in live and fnmatch.fnmatchcase(name, pattern):
                    live[name] = value
    return planned_call(node, env=live), state
