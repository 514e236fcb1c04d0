"""Plans as Snakemake rules: what a Snakefile needs, cheap to load in every job.

One rule per CM script used by the plans (named from the alias: ``cm_get_python3``), one job
per plan node, the node key as the ``{key}`` wildcard. A job's inputs are the result files of
its node's static dependencies; its output is the node's result file: for a cached script the
completion marker of its cache entry (``<cache>/<alias>/<key>/cmsm-result.json``), for any
other script a file in the workflow's results folder. The job body is
``python -m cm_snakemake job``, which runs the node with the runtime.

The Snakefile side never resolves anything: it reads compiled plan files (``plans/*.json``
under the workflow's ``.cmsm`` folder) and builds the rules from them. In a Snakefile::

    from cm_snakemake.compile.workflow import cm

    rule all:
        input: cm.target("get python3")        # compiles the request (once), returns its file

    include: cm.rules()                        # the rules of every target asked for

``cm.target`` compiles a request only when no compiled plan for it exists or the scripts it
involves changed (the same signature checks as ``plan/remembered.py``), so the many re-parses of a
cluster run read a file instead of planning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .._util.settings import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CMWorkflow", "RuleSpec", "cm", "rule_specs"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_LOCAL_PREFIXES = ("detect-",)  # cheap detection scripts run in the controller process
TINY_GROUP = "cm-tiny"  # the Snakemake group of short jobs, packed into few cluster jobs


@dataclass
class RuleSpec:
    """Everything ``rules/cm.smk`` needs to declare one rule."""

    name: str
    alias: str
    cached: bool
    output: str
    local: bool
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs_of: dict[str, list[str]] = field(default_factory=dict)

    def resource(self, name: str, default: int | None = None) -> Any:
        """A per-job resource callable (``wildcards`` → value), bound to this rule's nodes."""

        def value(wildcards: Any, nodes: dict[str, dict[str, Any]] = self.nodes) -> Any:
            raw = nodes.get(wildcards.key, {}).get("resources", {}).get(name)
            return int(float(raw)) if raw not in (None, "") else default

        return value

    def timeout(self, default: str) -> Any:
        """The ``cm_timeout`` resource (minutes, as text: fractions allowed): the node's
        ``resources.timeout``, else ``default`` ("0": no limit)."""

        def value(wildcards: Any, nodes: dict[str, dict[str, Any]] = self.nodes) -> str:
            raw = nodes.get(wildcards.key, {}).get("resources", {}).get("timeout")
            return str(raw) if raw not in (None, "") else default

        return value

    @property
    def network(self) -> bool:
        """The rule's script fetches from the network (downloads, git clones, pip)."""
        from ..plan.network import FETCHING

        return self.alias in FETCHING

    def is_local(self, config: Mapping[str, Any]) -> bool:
        """Runs on the submit host: detection (config ``cm_localrules``, default yes) and
        scripts that fetch from the network (``cm_network_on_submit_host``, default yes:
        compute nodes of clusters usually have none)."""
        if self.local and _yes(config.get("cm_localrules", True)):
            return True
        return self.network and _yes(config.get("cm_network_on_submit_host", True))

    def group(self, config: Mapping[str, Any]) -> str | None:
        """:data:`TINY_GROUP` for a cluster rule whose every node is short: detection run as
        a job, or a script that declares a ``resources.runtime`` of at most
        ``cm_tiny_minutes`` (default 10). Snakemake runs a connected set of them as one
        job, and ``group-components`` packs several sets into one. Config
        ``cm_group_tiny=false``: each is its own job."""
        if self.is_local(config) or not _yes(config.get("cm_group_tiny", True)):
            return None
        if self.local:
            return TINY_GROUP
        limit = float(config.get("cm_tiny_minutes", 10))
        minutes = [n.get("resources", {}).get("runtime") for n in self.nodes.values()]
        short = all(m not in (None, "") and float(m) <= limit for m in minutes)
        return TINY_GROUP if minutes and short else None

    def inputs(self) -> Any:
        def value(wildcards: Any, inputs_of: dict[str, list[str]] = self.inputs_of) -> list[str]:
            return inputs_of.get(wildcards.key, [])

        return value


def _yes(value: Any) -> bool:
    """A config switch: ``true``/``false`` from YAML, or text from ``--config k=v``."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "no", "false", "off")
    return bool(value)


def _rule_name(alias: str, cached: bool, taken: set[str]) -> str:
    base = "cm_" + "".join(c if c.isalnum() else "_" for c in alias)
    name = base if not cached or base not in taken else f"{base}_cached"
    n = 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


class CMWorkflow:
    """CM requests in a Snakefile: compile, declare rules, read results."""

    def __init__(self) -> None:
        self.workdir = settings.workdir
        self.plan_files: list[str] = []
        # per Snakemake workflow object: the rule specs declared so far, and the names taken
        self._declared: dict[int, tuple[dict[tuple[str, bool], RuleSpec], set[str]]] = {}
        self._registered = False
        self._plans: dict[str, dict[str, Any]] = {}  # plan files read by this process
        self.shared_results: str | None = None

    def _plan_json(self, path: str) -> dict[str, Any]:
        """A plan file's data, read once per process (a Snakefile parse asks for each plan
        in ``target`` and again in ``merged_plan``, once per include)."""
        data = self._plans.get(path)
        if data is None:
            data = self._plans[path] = _read_json(path)
        return data

    # -- folders -------------------------------------------------------------------------------

    @property
    def results_dir(self) -> str:
        return self.shared_results or os.path.join(self.workdir, "results")

    def share_results(self, folder: str) -> None:
        """Keep the results of nodes that are not cached in ``folder`` (another workflow's:
        a nested run of ``runtime/subflow.py`` uses the results its outer workflow made)."""
        self.shared_results = folder

    @property
    def cache_dir(self) -> str:
        from ..cache.store import CacheStore

        return CacheStore().root

    # -- compiling -----------------------------------------------------------------------------

    def compile(self, request: str, **inputs: Any) -> str:
        """Compile ``request`` into a plan file (or reuse a current one); return its path."""
        from .._util.secretenv import given
        from ..index.repos import Registry
        from ..plan import remembered

        os.environ.update(given(inputs))  # plan files hold no secrets: jobs read the env

        registry = Registry()
        facts_file = _facts_file()
        request_id = remembered.request_key(request, None, inputs, facts_file)
        name = hashlib.sha1(request_id.encode(), usedforsecurity=False).hexdigest()[:16]
        path = os.path.join(self.workdir, "plans", f"{name}.json")
        repos = registry.repositories()
        found = remembered.resolve(registry.index_dir, f"plan:{request_id}", repos)
        if found is not None and os.path.isfile(path):
            return path
        plan = _plan(request, inputs, facts_file)
        _write_json(path, plan.to_json())
        self._plans.pop(path, None)  # read back as written
        root = plan.node(plan.root)
        remembered.remember(
            registry.index_dir,
            f"plan:{request_id}",
            remembered.Remembered(root.key, root.alias, ()),
            [n.path for n in plan.nodes.values()],
            repos,
        )
        return path

    def target(self, request: str, **inputs: Any) -> str:
        """The result file of ``request`` (compiled if needed), for a rule's ``input``."""
        path = self.compile(request, **inputs)
        if path not in self.plan_files:
            self.plan_files.append(path)
        data = self._plan_json(path)
        root = next(n for n in data["nodes"] if n["key"] == data["root"])
        return self.output_of(root)

    def dependencies_of(self, path: str) -> list[str]:
        """The result files of the dependencies with jobs of their own of the root of the
        compiled plan ``path`` (the nested runs of ``runtime/subflow.py``)."""
        if path not in self.plan_files:
            self.plan_files.append(path)
        data = self._plan_json(path)
        nodes = {n["key"]: n for n in data["nodes"]}
        root = nodes[data["root"]]
        return [
            self.output_of(nodes[d["key"]])
            for d in root["deps"]
            if d["kind"] == "static" and not d.get("inline") and d["key"] in nodes
        ]

    def output_of(self, node: dict[str, Any]) -> str:
        from ..cache.store import safe_name

        alias = safe_name(node["alias"])
        if node["cached"]:
            return os.path.join(self.cache_dir, alias, node["key"], "cmsm-result.json")
        return os.path.join(self.results_dir, alias, f"{node['key']}.json")

    def env(self, result_file: str) -> dict[str, Any]:
        """The exported env of a finished node (read in a downstream rule); secrets, which
        records leave out, come from this process's environment where it has them."""
        from .._util.secretenv import restore

        data = _read_json(result_file)
        env: dict[str, Any] = restore(dict(data.get("new_env", {})), data.get("secret_keys"))
        return env

    def rules(self) -> str:
        """The path of ``rules/cm.smk`` to ``include:`` after the targets are declared."""
        return os.path.join(_PACKAGE, "cm.smk")

    # -- what rules/cm.smk reads -----------------------------------------------------------

    @property
    def nodes_dir(self) -> str:
        return os.path.join(self.workdir, "nodes")

    def merged_plan(self, extra: list[str] | None = None) -> dict[str, Any]:
        """All nodes of the compiled targets. Each node is also written, with the nodes of
        its static dependencies, to ``nodes/<key>.json``: what its job reads. A file per node
        keeps every job's command the same whichever targets a run asked for."""
        from .callers import callers_of

        nodes: dict[str, Any] = {}
        roots: list[str] = []
        facts: dict[str, Any] = {}  # the host facts the plans were made with
        states: dict[str, Any] = {}  # the live state a nested run's root was called with
        for file in [*self.plan_files, *(extra or [])]:
            data = self._plan_json(file)
            roots.append(data["root"])
            facts.update(data.get("facts", {}))
            if data.get("state"):
                states[data["root"]] = data["state"]
            for node in data["nodes"]:
                nodes[node["key"]] = node
        callers = callers_of(roots, nodes)
        for key in nodes:
            path = os.path.join(self.nodes_dir, f"{key}.json")
            chain = callers.chain(key)
            wanted = [key, *chain, *callers.replay_inputs(key)]
            for k in [key, *chain]:
                wanted += [d["key"] for d in nodes[k]["deps"] if d.get("key") in nodes]
            # written when it changed: its callers depend on the targets of the run
            _write_json(
                path,
                {
                    "format": 1,
                    "request": key,
                    "root": key,
                    "facts": facts,  # a job plans what it runs inline with the same facts
                    "notes": [],
                    "callers": chain,
                    "root_state": states.get(chain[0] if chain else key, {}),
                    "nodes": [nodes[k] for k in dict.fromkeys(wanted)],
                },
                if_changed=True,
            )
        return {
            "nodes": list(nodes.values()),
            "replay_inputs": {k: callers.replay_inputs(k) for k in callers.parent},
        }

    def rule_specs(self, plan: dict[str, Any], owner: object | None = None) -> list[RuleSpec]:
        """The rules to declare for ``plan``. With ``owner`` (the Snakemake ``workflow``),
        ``rules/cm.smk`` may be included more than once in one workflow (say by two included
        Snakefiles): a later include adds the new nodes to the rules declared before, and
        returns only the rules that are new."""
        if owner is None:
            return rule_specs(plan, self)
        declared = self._declared.setdefault(id(owner), ({}, set()))
        before = set(declared[0])
        specs = rule_specs(plan, self, declared)
        return [spec for spec in specs if (spec.alias, spec.cached) not in before]

    def _plans_of(self, extra: list[str] | None = None) -> list[Any]:
        from ..plan.model import Plan

        return [Plan.from_json(self._plan_json(f)) for f in [*self.plan_files, *(extra or [])]]

    def go_offline(self, bundle: str | None, extra: list[str] | None = None) -> str | None:
        """With a bundle (config ``cm_offline``, else ``CMSM_OFFLINE``): check that it holds
        every need of the compiled targets (:class:`~..offline.bundle.OfflineMissing` before
        any job runs) and pass it to the jobs. Returns the bundle's path, or ``None``."""
        from ..offline.bundle import check_offline

        path = os.path.abspath(os.path.expanduser(bundle)) if bundle else settings.offline
        if not path:
            return None
        check_offline(self._plans_of(extra), path)
        settings.put("offline", path)  # the jobs (local, or SLURM's exported env) read it
        return path

    def prefetch(self, bundle: str, facts_file: str | None = None,
                 reporter: Any = None) -> Any:  # fmt: skip
        """Fetch the needs of every compiled target into ``bundle`` (the ``prefetch`` target
        of a workflow); returns the :class:`~..offline.prefetch.PrefetchReport`."""
        from ..offline.bundle import Bundle
        from ..offline.prefetch import pip_target, prefetch
        from ..plan.network import network_needs
        from ..runtime.facts import load_facts

        needs = [n for plan in self._plans_of() for n in network_needs(plan)]
        target = pip_target(load_facts(facts_file)) if facts_file else {}
        return prefetch(needs, Bundle.open(bundle, create=True), target=target,
                        reporter=reporter)  # fmt: skip

    def network_needs(self) -> list[str]:
        """One line per network need of the compiled targets (a prefetch rule's params: a
        changed plan runs it again)."""
        from ..plan.network import network_needs

        lines = {n.line() for plan in self._plans_of() for n in network_needs(plan)}
        return sorted(lines)

    def controller_started(self, owner: Any) -> list[str]:
        """In the main Snakemake process (once): recover the stale lock and the finished
        results of a controller that was killed in this directory, and register this one
        (see ``controller.py``). Returns messages for the log."""
        if self._registered or not getattr(owner, "is_main_process", False):
            return []
        self._registered = True
        from .controller import recover_and_register

        # jobs inherit it: entries completed after it by another process are reused
        settings.put("controller_started", repr(time.time()))

        return recover_and_register(os.getcwd(), self.results_dir).messages()

    def shell(self) -> str:
        python = sys.executable
        return (
            f"{python} -m cm_snakemake job --plan={self.nodes_dir}/{{wildcards.key}}.json "
            f"--key={{wildcards.key}} --results={self.results_dir} "
            f"--cache-dir={self.cache_dir} --timeout={{resources.cm_timeout}}"
        )


def rule_specs(
    plan: dict[str, Any],
    workflow: CMWorkflow,
    declared: tuple[dict[tuple[str, bool], RuleSpec], set[str]] | None = None,
) -> list[RuleSpec]:
    """One :class:`RuleSpec` per (script alias, cached) in the plan, with its nodes. Specs in
    ``declared`` (and their rule names) are reused and extended with the plan's nodes."""
    by_key = {n["key"]: n for n in plan["nodes"]}
    specs, taken = declared if declared is not None else ({}, set())
    for node in plan["nodes"]:
        group = (node["alias"], bool(node["cached"]))
        spec = specs.get(group)
        if spec is None:
            example = workflow.output_of(node)
            output = example.replace(node["key"], "{key}")
            spec = specs[group] = RuleSpec(
                name=_rule_name(node["alias"], node["cached"], taken),
                alias=node["alias"],
                cached=node["cached"],
                output=output,
                local=node["alias"].startswith(_LOCAL_PREFIXES),
            )
        spec.nodes[node["key"]] = node
        before = plan.get("replay_inputs", {}).get(node["key"], [])
        needed = [
            d["key"]
            for d in node["deps"]
            if d["kind"] == "static" and not d.get("inline") and d["key"] in by_key
        ]
        spec.inputs_of[node["key"]] = [
            workflow.output_of(by_key[k]) for k in dict.fromkeys([*needed, *before])
        ]
    return list(specs.values())


def _facts_file() -> str | None:
    from ..runtime.facts import host_facts_path

    path = host_facts_path()
    return path if os.path.isfile(path) else None


def _plan(request: str, inputs: dict[str, Any], facts_file: str | None) -> Any:
    from ..errors import NoScriptFound
    from ..index.scripts import ScriptIndex
    from ..meta.tags import TagQuery
    from ..plan.planner import Planner
    from ..plan.provider import IndexProvider
    from ..runtime.facts import host_facts, load_facts

    index = ScriptIndex.from_registry()
    facts = load_facts(facts_file) if facts_file else host_facts(index)
    planner = Planner(IndexProvider(index), facts=facts["scripts"])
    words = request.split()
    try:
        if len(words) == 1 and "," not in request:  # one word: an alias, as on the CLI
            plan = planner.plan(TagQuery(), inputs, artifact=request)
        else:
            plan = planner.plan(TagQuery.parse(",".join(words)), inputs)
    except NoScriptFound:
        if len(words) != 1:
            raise
        plan = planner.plan(TagQuery.parse(request), inputs)  # a single tag
    index.flush()
    return plan


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _write_json(path: str, data: Any, *, if_changed: bool = False) -> None:
    text = json.dumps(data, indent=1, default=str)
    if if_changed:
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    return
        except OSError:
            pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


cm = CMWorkflow()
