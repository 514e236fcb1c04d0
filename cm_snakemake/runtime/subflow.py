"""The dependencies of a script a job runs itself, scheduled by a nested Snakemake run.

A job runs some scripts itself, live: the dependencies that come after one of its stages
(post dependencies; the implementation that CM's ``app-mlperf-inference`` calls in its
``prehook_deps``), residual ones, and the scripts a hook runs (``cmind.access``). Their
subtrees can be large, and run one after another in the job they would lose the parallelism
of a workflow. So when such a call's plan has at least two jobs of its own still to do, the
job writes the plan into a workflow of its own (``<workflow>/.cmsm/sub/<key>/``), runs
Snakemake on it for the call's dependencies (the same cache and the same results folder, so
what the outer workflow made is reused; ``CMSM_NESTED_JOBS`` jobs at once), and then runs the
call itself, in its own process as before, taking its dependencies'
results from that workflow.

The plan is made from the live call (every value known), and the live state is handed to the
nested jobs in the plan file, so they receive what they would receive in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..errors import ScriptFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..plan.model import Plan
    from ..plan.planner import Prepared
    from .result import NodeResult
    from .runner import Runtime

__all__ = ["Subflows"]

_MIN_PENDING = 2  # a nested Snakemake start costs seconds: worth it for two jobs or more

SNAKEFILE = """\
# Written by cm-snakemake for a job: the dependencies of {alias} [{key}], which the job runs
# itself once they are done.
from cm_snakemake.compile.workflow import cm

cm.share_results({results!r})

rule cm_request:
    input: cm.dependencies_of({plan!r})

include: cm.rules()
"""


class Subflows:
    """Nested Snakemake runs for the calls a job runs itself."""

    def __init__(self, runtime: Runtime, folder: str, jobs: int) -> None:
        self.runtime = runtime
        self.folder = folder
        self.jobs = jobs

    def schedule(
        self, prepared: Prepared, state: dict[str, Any]
    ) -> Callable[[str], NodeResult | None] | None:
        """Run the dependencies of ``prepared`` through Snakemake when at least two jobs of
        its plan are still to do; return where their results are (None: nothing was run)."""
        node = prepared.node
        if node.cached and self.runtime.cache.lookup(node.alias, node.key) is not None:
            return None
        plan = self.runtime.planner.current_plan(prepared.start.call, node.key)

        def lookup(key: str) -> NodeResult | None:
            return self.runtime.result_for(plan.node(key))

        if len(_pending(plan, node.key, lookup)) < _MIN_PENDING:
            return None
        self._run(plan, state, os.path.join(self.folder, node.key))
        return lookup

    def _run(self, plan: Plan, state: dict[str, Any], sub: str) -> None:
        node = plan.node(plan.root)
        os.makedirs(sub, exist_ok=True)
        plan_file = os.path.join(sub, "plan.json")
        data = {**plan.to_json(), "state": state}
        tmp = f"{plan_file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str)
        os.replace(tmp, plan_file)
        snakefile = os.path.join(sub, "Snakefile")
        with open(snakefile, "w", encoding="utf-8") as fh:
            fh.write(
                SNAKEFILE.format(
                    alias=node.alias,
                    key=node.key,
                    plan=plan_file,
                    results=self.runtime.results_dir,
                )
            )
        self.runtime.reporter.stage(
            node.alias, f"its dependencies through Snakemake ({self.jobs} at once) in {sub}"
        )
        argv = [sys.executable, "-m", "snakemake", "-s", snakefile, "-d", sub]
        argv += ["--cores", str(self.jobs), "--rerun-incomplete"]
        env = {k: v for k, v in os.environ.items() if k != "CMSM_WORKDIR"}
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise ScriptFailed(
                node.script,
                "dependencies",
                f"the Snakemake run of its dependencies failed (exit {done.returncode})",
                hint=f"Its log is under {sub}/.snakemake/log/; the output above names the job.",
            )


def _pending(plan: Plan, root: str, lookup: Callable[[str], NodeResult | None]) -> list[str]:
    """The nodes below ``root`` with jobs of their own and no result yet."""
    seen: set[str] = set()
    todo = [d.key for d in plan.node(root).static_deps if not d.inline]
    found: list[str] = []
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if lookup(key) is None:
            found.append(key)
            todo += [d.key for d in plan.node(key).static_deps if not d.inline]
    return found
