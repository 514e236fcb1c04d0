#!/usr/bin/env python3
"""Benchmark: planning the MLPerf reference request, against CM walking the same tree.

Request: ``app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test`` over
the cmx4mlops 1.0.1 corpus.

* cm-snakemake, cold: ``cm-snakemake plan ... --facts=FILE --json`` in a fresh process (the
  index snapshot is warm; host facts come from a file written once by
  ``cm-snakemake facts``, as on a cluster). Also with facts collected on the spot.
* cm-snakemake, warm: the same plan again in the same process.
* CM: CM cannot walk the tree without running it (``--fake_run`` still runs every dependency,
  which downloads models and datasets). The closest equivalent is CM resolving every script
  *call* of the tree itself, as its walk would: CM enters each dependency where it occurs (it
  has no de-duplication), so for each occurrence of a node in the expanded plan tree, one
  ``cmind.access`` run with ``fake_run`` and ``fake_deps`` (resolve the script, its
  variations, versions and first-level dependencies; execute nothing), all in one CM process.
  Run-time (residual) dependencies are not counted, so CM's real walk would do more.

Usage::

    python benchmarks/bench_plan.py [--repeat 5] [--cm PATH_TO_cm]

Goals (issue "Planner"): cold under 0.5 s; at least 5x faster than CM; the static share of
dependencies is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env, cm_executable, cm_home, corpus, ms, run_quiet, timed

REQUEST = "app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test"

# Run with CM's python: resolve each request with fake_run + fake_deps, print the total time.
CM_DRIVER = r"""
import json, sys, time, cmind
requests = json.load(sys.stdin)
errors = 0
start = time.perf_counter()
for artifact, tags, inputs in requests:
    r = cmind.access({"action": "run", "automation": "script", "artifact": artifact,
                      "tags": tags, "quiet": True, "fake_run": True, "fake_deps": True,
                      "silent": True, **inputs})
    errors += r["return"] > 0
print(json.dumps({"seconds": time.perf_counter() - start, "runs": len(requests),
                  "errors": errors}))
"""


def ours_cold(env: dict[str, str], work: Path, facts: Path | None) -> float:
    cmd = [sys.executable, "-m", "cm_snakemake", "plan", REQUEST, "--json"]
    cmd += [f"--facts={facts}"] if facts else []
    start = time.perf_counter()
    run_quiet(cmd, env, str(work))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cm", help="path of CM's 'cm' command (default: a private venv)")
    args = parser.parse_args()
    root = corpus()
    cm = cm_executable(args.cm)
    work = Path(tempfile.mkdtemp())
    env = {**clean_env(), "CMSM_HOME": str(work / "cmsm")}
    run_quiet([sys.executable, "-m", "cm_snakemake", "repo", "add", str(root)], env, str(work))
    facts = work / "facts.json"
    run_quiet([sys.executable, "-m", "cm_snakemake", "facts", f"--out={facts}"], env, str(work))
    plan = json.loads(
        run_quiet(
            [sys.executable, "-m", "cm_snakemake", "plan", REQUEST, "--json", f"--facts={facts}"],
            env,
            str(work),
        )
    )
    cold = [ours_cold(env, work, facts) for _ in range(args.repeat)]
    cold_probe = [ours_cold(env, work, None) for _ in range(args.repeat)]

    import os

    os.environ["CMSM_HOME"] = str(work / "cmsm")
    from cm_snakemake.index.scripts import ScriptIndex
    from cm_snakemake.plan.planner import Planner
    from cm_snakemake.plan.provider import IndexProvider
    from cm_snakemake.runtime.facts import load_facts

    provider = IndexProvider(ScriptIndex.from_registry())
    scripts = load_facts(facts)["scripts"]
    Planner(provider, facts=scripts).plan(REQUEST.replace(" ", ","))
    warm = timed(
        lambda: Planner(provider, facts=scripts).plan(REQUEST.replace(" ", ",")), args.repeat
    )

    nodes = {n["key"]: n for n in plan["nodes"]}

    def occurrences(key: str) -> list[dict[str, object]]:
        node = nodes[key]
        found = [node]
        for dep in node["deps"]:
            if dep["kind"] == "static":
                found += occurrences(dep["key"])
        return found

    calls = occurrences(plan["root"])
    requests = [
        [
            f"cmx4mlops:{n['alias']}",
            ",".join(f"_{v}" for v in n["variations"]),  # type: ignore[union-attr]
            dict(n["versions"]),
        ]  # type: ignore[call-overload]
        for n in calls
        if str(n["script"]).startswith("cmx4mlops:")
    ]
    cm_env = cm_home(work, root, cm)
    python = str(Path(cm).parent / "python")
    cm_runs = []
    for _ in range(max(1, args.repeat // 2)):
        done = subprocess.run(
            [python, "-c", CM_DRIVER],
            input=json.dumps(requests),
            env=cm_env,
            cwd=str(work),
            capture_output=True,
            text=True,
            check=True,
        )
        cm_runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cm_seconds = [r["seconds"] for r in cm_runs]
    stats = plan["stats"]
    ratio = statistics.median(cm_seconds) / statistics.median(cold)
    print(f"request: {REQUEST}")
    print(
        f"plan: {stats['nodes']} nodes ({stats['cached_nodes']} cached), "
        f"{stats['static_deps']} static and {stats['residual_deps']} run-time dependencies, "
        f"static share {float(stats['static_share']) * 100:.1f}%"
    )
    print(f"cm-snakemake plan, fresh process, facts file:      {ms(cold)}   (goal < 500 ms)")
    print(f"cm-snakemake plan, fresh process, facts collected: {ms(cold_probe)}")
    print(f"cm-snakemake plan, warm, in process:                {ms(warm)}")
    print(
        f"CM resolving the {len(requests)} script calls of the tree "
        f"({stats['nodes']} distinct; fake_run, fake_deps, one process): "
        f"{ms(cm_seconds)} ({cm_runs[0]['errors']} of them failed in CM)"
    )
    print(f"ratio CM / cm-snakemake cold:                       {ratio:.1f}x   (goal >= 5x)")
    ok = statistics.median(cold) < 0.5 and ratio >= 5
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
