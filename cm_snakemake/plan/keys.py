"""Node keys: a hash over everything that decides a node's result (docs/architecture.md,
"Node keys"; the cache identity of docs/cm-behaviour.md §7.2).

Same meaning, same key: the script's uid, meta digest and files digest, the full variation
list, the version constraints, const, the inputs, the dependencies' keys (and residual
specs), the host facts a detection script stands for, and the part of the received env the
script may read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._util.frozen import thaw
from .inputs import PLANNED_SEPARATELY
from .model import ResidualDep, StaticDep, env_to_json, hash_json
from .prepare import VERSION_FIELDS, Start

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .versions import VersionRequest

__all__ = [
    "family_key",
    "node_ident",
    "node_key",
    "node_key_data",
    "plain_inputs",
    "tag_env",
    "versions_dict",
]


def versions_dict(request: VersionRequest) -> dict[str, str]:
    return {k: getattr(request, k) for k in VERSION_FIELDS if getattr(request, k)}


def plain_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs that are the script's own (not read by the engine itself)."""
    return {k: thaw(v) for k, v in inputs.items() if k not in PLANNED_SEPARATELY}


def _read_env(start: Start, has_residual: bool) -> dict[str, Any]:
    """The received env restricted to what this script (or a residual child) may read."""
    received = start.call.env
    if start.scan.reads_all or has_residual:
        keys = received.keys()
    else:
        refs = start.scan.refs
        keys = [k for k in received.keys() if k in refs or k.startswith("+")]
    values = {k: received.get(k) for k in sorted(keys)}
    result = dict(env_to_json({k: v for k, v in values.items() if v is not None}))
    wild = [[p, u.source] for p, u in received.wildcards]
    if wild:
        result["$wildcards"] = wild
    return result


def _key_env(start: Start, facts: Mapping[str, str] | None, has_residual: bool) -> dict[str, Any]:
    """The part of the received env that a node's key covers.

    * a script whose results are host facts: none (the facts are in the key);
    * a cached script: what CM's cache identity covers besides tags: the dependency
      entry's own ``env`` and the keys named in ``extra_cache_tags_from_env``. As in CM,
      an entry is reused whatever else the caller's env holds;
    * any other script: every received key it (or a residual dependency) may read.
    """
    if facts is not None:
        return {}
    if start.cached:
        named = {item.get("env", "") for item in start.meta.extra_cache_tags_from_env}
        values = {k: start.call.env.get(k) for k in sorted(named) if k}
        return {
            "local": start.call.local_env,
            **env_to_json({k: v for k, v in values.items() if v is not None}),
        }
    return _read_env(start, has_residual)


def node_key_data(
    start: Start,
    facts: Mapping[str, Mapping[str, str]],
    deps: Sequence[StaticDep | ResidualDep] | None,
) -> dict[str, Any]:
    """What the key of ``start``'s node covers; without ``deps`` (None), the part known
    before the dependencies are planned (which names the node's run-time writes)."""
    own_facts = facts.get(start.meta.alias)
    has_residual = any(isinstance(d, ResidualDep) for d in deps or ())
    data = {
        "script": start.meta.uid or start.entry.name,
        "meta": start.meta.digest,
        "files": start.scan.digest,
        "variations": list(start.resolved.all),
        "versions": versions_dict(start.versions),
        "env": _key_env(start, own_facts, has_residual),
        "const": thaw(start.const),
        "inputs": plain_inputs(start.call.inputs),
        "cached": start.cached,
    }
    if own_facts is not None:
        data["facts"] = dict(own_facts)
    if deps is not None:
        data["deps"] = [
            [d.list, d.ident or d.key] if isinstance(d, StaticDep) else [d.list, thaw(d.spec)]
            for d in deps
        ]
    return data


def node_ident(
    start: Start,
    facts: Mapping[str, Mapping[str, str]],
    deps: Sequence[StaticDep | ResidualDep],
) -> str:
    """What a caller's key takes from this node: a cached node's key; for one that is not
    cached, its key without the env it receives.

    A node that is not cached runs every time anyway; the env it receives may hold values
    that change from run to run (a file name made from a fresh uuid, as
    ``generate-mlperf-inference-user-conf`` writes into the env of its callers), and through
    the keys of its cached callers those would give them a new cache entry on every run
    (LoadGen rebuilt each time). The script, its files, variations, versions, const, inputs and
    its own dependencies still count (docs/architecture.md, "Node keys").
    """
    if start.cached:
        return node_key(start, facts, deps)
    data = node_key_data(start, facts, deps)
    del data["env"]
    return "i" + hash_json(data)[:31]


def family_key(
    start: Start,
    facts: Mapping[str, Mapping[str, str]],
    deps: Sequence[StaticDep | ResidualDep],
) -> str:
    """The key without the version constraints and the caller's ``extra_cache_tags_from_env``
    values: cache entries of one family differ only in those, and CM reuses any of them
    whose version satisfies a request and whose tags agree (docs/cm-behaviour.md §7.2)."""
    data = node_key_data(start, facts, deps)
    del data["versions"]
    if start.cached and isinstance(data["env"], dict):
        data["env"] = {"local": data["env"].get("local")}
    return hash_json(data)[:32]


def tag_env(start: Start) -> dict[str, str]:
    """The caller's values of the keys named in ``extra_cache_tags_from_env``."""
    named = sorted({item.get("env", "") for item in start.meta.extra_cache_tags_from_env})
    values = {k: start.call.env.get(k) for k in named if k}
    return {k: str(v) for k, v in values.items() if isinstance(v, str)}


def node_key(
    start: Start,
    facts: Mapping[str, Mapping[str, str]],
    deps: Sequence[StaticDep | ResidualDep],
) -> str:
    return hash_json(node_key_data(start, facts, deps))[:32]
