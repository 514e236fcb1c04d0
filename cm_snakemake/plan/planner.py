"""The planner: CM's resolution semantics as partial evaluation, producing a :class:`Plan`.

``Planner(provider).plan(request, inputs)`` walks the request the way CM runs it
(docs/cm-behaviour.md §3): for each call, select the script, prepare it (CM's phases before
the dependencies, :mod:`cm_snakemake.plan.prepare`), then decide each dependency in order
(:mod:`cm_snakemake.plan.deps`) with the run-time stages between the lists. It does no file,
process or environment access: scripts, metas and file scans come from the ``provider``;
host facts are passed in.

Every env value is known or :class:`~cm_snakemake.plan.penv.Unknown`. A dependency whose
condition and tags are known to hold becomes its own node (a DAG edge); one known not to
hold is dropped; one that depends on an unknown value stays in its parent as a residual
dependency for the runtime to decide exactly as CM would. Writes that only run time can make
(``preprocess``, the native script, ``postprocess``, residual dependencies) turn the keys
they may write into unknowns, as reported by the provider's scan of the script's files.

Outline of one node (:meth:`Planner._plan_new_node`)::

    select script (tags, sort, alternatives recorded)        provider.find
    prepare: base env, variations, versions, patches          prepare.prepare  → Start
    deps → preprocess → prehook_deps → native script → posthook_deps → postprocess → post_deps
    exports: new_env_keys over the final env
    key: script digests, variations, versions, read env, const, dependency keys, facts

:meth:`Planner.plan_call` returns a :class:`Prepared`: the :class:`Start` and the planned
:class:`PlanNode`, which is all the runtime needs to run the call.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .._util.frozen import FrozenMap, freeze
from .._util.reporting import NullReporter, Reporter
from ..errors import CMSnakemakeError
from ..meta.model import ScriptMeta, dep_to_raw
from ..meta.tags import TagQuery, split_tags
from .calls import Call, PlanError, call_key, root_call
from .deps import Child, Dropped, after_child, decide, is_wild
from .keys import node_ident, node_key, node_key_data, plain_inputs, versions_dict
from .merge import merge_exports
from .model import Plan, PlanNode, ResidualDep, StaticDep, env_to_json, hash_json
from .penv import PEnv, PValue, Unknown, expand
from .prepare import Start, impose_const, prepare

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..index.scan import ScriptScan
    from ..index.scripts import ScriptEntry
    from ..meta.model import DepSpec

__all__ = ["CycleError", "PlanError", "Planner", "Prepared", "ScriptProvider"]

_MAX_DEPTH = 64


class CycleError(PlanError):
    """A dependency cycle; ``cycle`` is the path of scripts that repeats."""

    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__(
            "dependency cycle: " + " -> ".join(cycle),
            hint="A script depends on itself with the same variations; break the loop with a "
            "condition or different variations.",
        )
        self.cycle = tuple(cycle)


class ScriptProvider(Protocol):
    """Where domain facts enter the planner: scripts, their metas and their file scans."""

    def find(self, query: TagQuery, artifact: str | None = None) -> list[ScriptEntry]: ...

    def meta(self, entry: ScriptEntry) -> ScriptMeta: ...

    def scan(self, entry: ScriptEntry) -> ScriptScan: ...


@dataclass(frozen=True)
class Prepared:
    """One call planned: where it starts (:class:`Start`) and its node in the plan."""

    start: Start
    node: PlanNode


@dataclass
class _Exports:
    """What a planned node returns to its caller's env."""

    known: dict[str, PValue] = field(default_factory=dict)
    unknown: list[tuple[str, Unknown]] = field(default_factory=list)

    def unknowns(self) -> list[Unknown]:
        """The exported values only run time decides."""
        values = [v for v in self.known.values() if isinstance(v, Unknown)]
        return values + [u for _, u in self.unknown]

    def apply(self, env: PEnv) -> None:
        """Merge into the caller's env with CM's rule for exports."""
        for pattern, unknown in self.unknown:
            env.write_unknown(pattern, unknown)
        merge_exports(env, self.known)


class Planner:
    """Plans requests against a provider. One instance can plan many requests."""

    def __init__(
        self,
        provider: ScriptProvider,
        *,
        facts: Mapping[str, Mapping[str, str]] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.provider = provider
        self.facts = {k: dict(v) for k, v in (facts or {}).items()}
        self.reporter = reporter or NullReporter()
        self._nodes: dict[str, PlanNode] = {}
        self._memo: dict[tuple[object, ...], tuple[str, _Exports, Start]] = {}
        self._reads: dict[str, frozenset[str]] = {}
        self._notes: list[str] = []

    # -- public ------------------------------------------------------------------------------

    def plan(
        self,
        request: str | TagQuery,
        inputs: Mapping[str, Any] | None = None,
        *,
        artifact: str | None = None,
    ) -> Plan:
        """Plan ``request`` (tags, and/or an ``artifact`` such as ``repo:alias``) with CLI-style
        ``inputs`` (``env``, ``adr``, versions, ...)."""
        return self.plan_request(request, inputs, artifact=artifact)[0]

    def plan_request(
        self,
        request: str | TagQuery,
        inputs: Mapping[str, Any] | None = None,
        *,
        artifact: str | None = None,
    ) -> tuple[Plan, Start]:
        """:meth:`plan`, and the root's :class:`Start` (which script the request selected,
        and what it accepts)."""
        self.reset()
        call = root_call(request, inputs, artifact=artifact)
        root, _, start = self._plan_node(call)
        return self.current_plan(call, root), start

    def reset(self) -> None:
        """Forget what was planned (a new plan starts)."""
        self._nodes = {}
        self._memo = {}
        self._notes = []
        self._reads = {}

    def current_plan(self, call: Call, root: str) -> Plan:
        """The plan of everything planned since :meth:`reset`, rooted at ``root``."""
        return Plan(
            request=" ".join(p for p in (call.artifact, str(call.query)) if p),
            root=root,
            nodes=FrozenMap(self._nodes),
            facts=freeze(self.facts),
            notes=tuple(self._notes),
        )

    @property
    def nodes(self) -> dict[str, PlanNode]:
        """The nodes planned so far (by key)."""
        return self._nodes

    def plan_call(self, call: Call) -> Prepared:
        """Plan one call (and its subtree) within the current plan."""
        key, _, start = self._plan_node(call)
        return Prepared(start, self._nodes[key])

    def start(self, call: Call) -> Start:
        """Only prepare ``call`` (a planned node run as planned: its dependencies are in the
        plan already)."""
        entry, _ = self._select(call)
        return prepare(call, entry, self.provider.meta(entry), self.provider.scan(entry))

    # -- one node ----------------------------------------------------------------------------

    def _select(self, call: Call) -> tuple[ScriptEntry, list[ScriptEntry]]:
        found = self.provider.find(call.query, call.artifact)
        return found[0], found[1:]

    def _plan_node(self, call: Call) -> tuple[str, _Exports, Start]:
        """Plan one call; the same call (same tags and inputs) is planned once per plan.

        Planning is a pure function of the call, so a repeated call reuses the first result
        and only adds its reason. (A cycle through a repeated call would have been found the
        first time: the call would then have been in its own subtree.)
        """
        memo_key = call_key(call)
        found = self._memo.get(memo_key)
        if found is not None:
            key = found[0]
            self._nodes[key] = _with_why(self._nodes[key], call.why)
            return found
        planned = self._plan_new_node(call, f"{hash(memo_key) & 0xFFFFFFFF:08x}")
        self._memo[memo_key] = planned
        return planned

    def _plan_new_node(self, call: Call, call_id: str) -> tuple[str, _Exports, Start]:
        entry, others = self._select(call)
        start = prepare(call, entry, self.provider.meta(entry), self.provider.scan(entry))
        # A cycle is the same call (script, variations, inputs and env) inside itself: the
        # same script may well appear again with a different env (CM's get-gcc post_deps
        # get-compiler-flags, which then skips get,compiler).
        identity = f"{entry.name}({start.resolved.tags})#{call_id}"
        if identity in call.path:
            loop = [*call.path[call.path.index(identity) :], identity]
            raise CycleError([step.split("#")[0] for step in loop])
        if len(call.path) >= _MAX_DEPTH:
            raise PlanError(f"dependencies nest deeper than {_MAX_DEPTH}: {' -> '.join(call.path)}")
        walk = _Walk(self, start)
        walk.run_lists([*call.path, identity])
        node = walk.node(others)
        self._reads.setdefault(node.key, walk.reads())
        existing = self._nodes.get(node.key)
        if existing is not None:
            node = _with_why(existing, call.why)
        self._nodes[node.key] = node
        return node.key, walk.exports(), start


def _with_why(node: PlanNode, why: str) -> PlanNode:
    if why in node.why:
        return node
    return replace(node, why=(*node.why, why))


class _Walk:
    """Planning one node's dependency lists from its :class:`Start`; :meth:`node` freezes
    the result into a :class:`PlanNode`."""

    def __init__(self, planner: Planner, start: Start) -> None:
        self.planner = planner
        self.start = start
        self.meta = start.meta
        self.env = start.env()
        self.deps: list[StaticDep | ResidualDep] = []
        self.facts_used: list[str] = []
        self.seed = hash_json(node_key_data(start, planner.facts, None))
        # what makes a later dependency run inside this node's job: a stage of this node that
        # ran before it, or values only this node's job will know (written by a stage, a
        # residual dependency or a dependency run inside the job)
        self.stage_ran = ""
        self.job_only: set[str] = set()
        self.exported_by: list[tuple[str, str]] = []  # (unknown source, dependency key)

    def run_lists(self, path: list[str]) -> None:
        """Plan the four lists in CM order, with the run-time stages between them."""
        start, scan = self.start, self.start.scan
        if start.mlc and self.meta.predeps and scan.has_predeps:
            self._stage_writes("predeps")
        self._list("deps", path)
        if scan.has_preprocess:
            self._stage_writes("preprocess")
        impose_const(self.env, start.const)
        self._list("prehook_deps", path)
        if self._has_native():
            for old, new in self.meta.env_key_mappings.items():
                for key in self.env.matching(old + "*"):
                    value = self.env.get(key)
                    if value is not None:
                        self.env.set(new + key[len(old) :], value)
            self._writes("native script", scan.native_writes, scan.native_writes_all)
        self._list("posthook_deps", path)
        if scan.has_postprocess:
            self._stage_writes("postprocess")
        self._list("post_deps", path)
        impose_const(self.env, start.const)

    def _has_native(self) -> bool:
        base = self.start.script_name or "run"
        return any(n.startswith(base) and n.endswith(".sh") for n in self.start.scan.native_scripts)

    def _facts(self) -> dict[str, str] | None:
        return self.planner.facts.get(self.meta.alias)

    def _stage_writes(self, stage: str) -> None:
        self._writes(stage, *self.start.scan.writes(stage))

    def _writes(self, stage: str, keys: frozenset[str], all_keys: bool) -> None:
        """Keys a run-time stage may write become unknown; host facts fix what they cover."""
        facts = self._facts()
        if facts is not None:  # a stable source: the same on every path to this script
            source = Unknown(f"{self.meta.alias} on the target host (not in the facts)")
        else:
            source = Unknown(f"{stage} of {self.meta.alias} [{self.seed[:12]}]")
        self.stage_ran = self.stage_ran or stage
        self.job_only.add(source.source)
        if all_keys:
            self.env.write_unknown("*", source)
        for key in sorted(keys):
            self.env.set(key, source)
        if facts is not None:
            self.env.update(facts)
            self.facts_used = sorted(facts)

    def _list(self, list_name: str, path: list[str]) -> None:
        for dep in self.start.lists[list_name]:
            if dep.tags:
                self._dep(list_name, dep, path)

    def _dep(self, list_name: str, dep: DepSpec, path: list[str]) -> None:
        decision = decide(self.start, list_name, dep, self.env, path)
        if isinstance(decision, Dropped):
            return
        if not isinstance(decision, Child):
            self._residual(list_name, dep, decision.reason)
            return
        child = decision.call
        try:
            key, exports, child_start = self.planner._plan_node(child)
        except CycleError:
            raise
        except CMSnakemakeError as exc:
            raise PlanError(f"{child.why}: {exc.message}", hint=exc.hint) from exc
        ident = node_ident(child_start, self.planner.facts, self.planner._nodes[key].deps)
        reads = self.planner._reads[key]
        inline = self._inline(reads)
        after = () if inline else self._after(reads)
        if after and child_start.cached:
            # a cache entry is shared by every workflow: its job must not wait for results
            # that live in one workflow's folder (another workflow would run them again and
            # so rebuild the entry's marker), so it reads them inside its caller's job
            local = [k for k in after if not self.planner._nodes[k].cached]
            if local:
                names = ", ".join(sorted({self.planner._nodes[k].alias for k in local}))
                inline = f"it is cached and may read run-time values of {names}, which are not"
                after = ()
        self.deps.append(
            StaticDep(
                list_name, child.tags, key, dep.names, dep.tags, dep.dynamic, ident, inline, after
            )
        )
        exports.apply(self.env)
        sources = {u.source for u in exports.unknowns()}
        if inline:  # its run-time exports are known only inside this node's job
            self.job_only.update(sources)
        else:
            self.exported_by.extend((source, key) for source in sorted(sources))
        after_child(self.env, decision.hidden, self.start.const)

    def _inline(self, reads: frozenset[str]) -> str:
        """Why a dependency must run inside this node's job (empty: it gets a job of its
        own). A job of its own runs before this node's job, so it cannot come after one of
        this node's stages (CM's order), and what it may read must be known to the plan or
        exported by jobs before it (``reads``: the sources of the unknown values it, or its
        subtree, may read)."""
        if self.stage_ran:
            return f"it runs after the {self.stage_ran} of {self.meta.alias}"
        for source in sorted(self.job_only):
            if any(source in read for read in reads):
                return f"it may read a value only {self.meta.alias}'s job knows ({source})"
        return ""

    def _after(self, reads: frozenset[str]) -> tuple[str, ...]:
        """The earlier dependencies (with jobs of their own) whose run-time exports a
        dependency may read: its job runs after theirs and takes those values from them."""
        found = [k for source, k in self.exported_by if any(source in r for r in reads)]
        return tuple(dict.fromkeys(found))

    def _residual(self, list_name: str, dep: DepSpec, reason: str) -> None:
        self.deps.append(
            ResidualDep(list_name, dep.tags, reason, freeze(dep_to_raw(dep)), dep.names)
        )
        source = Unknown(
            f"residual {list_name} '{dep.tags}' of {self.meta.alias} [{self.seed[:12]}]"
        )
        self.job_only.add(source.source)
        base = TagQuery.parse(",".join(t for t in split_tags(dep.tags) if "<<<" not in t))
        try:
            candidates = self.planner.provider.find(base)
        except CMSnakemakeError:  # no candidate: it may write anything
            candidates = []
        patterns: set[str] = set()
        for entry in candidates:
            meta = self.planner.provider.meta(entry)
            patterns.update(meta.new_env_keys)
            for var in meta.variations.values():
                patterns.update(var.new_env_keys)
        if not candidates or dep.force_new_env_keys is not None:
            patterns = {"*"}
        for pattern in sorted(patterns):
            if is_wild(pattern):
                self.env.write_unknown(pattern, source)
            else:
                self.env.set(pattern, source)

    # -- the result ----------------------------------------------------------------------------

    def node(self, others: list[ScriptEntry]) -> PlanNode:
        start = self.start
        key = node_key(start, self.planner.facts, self.deps)
        received = start.call.env
        return PlanNode(
            key=key,
            script=start.entry.name,
            alias=self.meta.alias,
            uid=self.meta.uid,
            path=self.meta.path,
            dialect=str(self.meta.dialect),
            variations=start.resolved.all,
            explicit_variations=start.resolved.explicit,
            versions=freeze(versions_dict(start.versions)),
            cached=start.cached,
            env=env_to_json(dict(received.items())),
            resolved_env=env_to_json(dict(start.env_values)),
            const=start.const,
            inputs=freeze(plain_inputs(start.call.inputs)),
            add_deps_recursive=freeze(start.call.adr),
            add_deps=freeze(start.call.ad),
            deps=tuple(self.deps),
            new_env_keys=start.export_patterns(),
            why=(start.call.why,),
            facts=tuple(self.facts_used),
            alternatives=tuple(e.name for e in others),
            meta_digest=self.meta.digest,
            files_digest=start.scan.digest,
            resources=start.resources,
            env_wildcards=tuple((p, u.source) for p, u in received.wildcards),
        )

    def reads(self) -> frozenset[str]:
        """The sources of the unknown values this node (with its subtree) may read: those
        of the keys its files reference (``+`` lists always), of every key when its files
        may read anything or a dependency is decided at run time."""
        start, scan = self.start, self.start.scan
        everything = scan.reads_all or any(isinstance(d, ResidualDep) for d in self.deps)
        refs = scan.refs
        found: set[str] = set()
        for key, value in start.env_values.items():
            if isinstance(value, Unknown) and (everything or key in refs or key[:1] == "+"):
                found.add(value.source)
        for pattern, unknown in start.env_wildcards:
            if everything or any(fnmatch.fnmatchcase(r, pattern) for r in refs):
                found.add(unknown.source)
        for dep in self.deps:
            if isinstance(dep, StaticDep):
                found.update(self.planner._reads.get(dep.key, ()))
        return frozenset(found)

    def exports(self) -> _Exports:
        result = _Exports()
        for pattern in self.start.export_patterns():
            pattern_text = expand(pattern, self.env) if "<<<" in pattern else pattern
            if isinstance(pattern_text, Unknown):
                result.unknown.append(("*", pattern_text))
                continue
            if is_wild(pattern_text):
                wild = self.env.wild_may_match(pattern_text)
                if wild is not None:
                    result.unknown.append((pattern_text, wild))
                for name in self.env.matching(pattern_text):
                    value = self.env.get(name)
                    if value is not None:
                        result.known[name] = value
            else:
                value = self.env.get(pattern_text)
                if value is not None:
                    result.known[pattern_text] = value
        return result
