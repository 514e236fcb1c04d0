#!/usr/bin/env python3
"""Benchmark (part 3 of bench_snakemake.py): CM's MLPerf reference tree as Snakemake jobs.

CM's MLPerf reference request compiled into Snakemake jobs, ``-j 1`` and ``-j 2``, against
cmind 4.2.0 running it in one process.

The request, stand-ins and per-tool setting are those of ``bench_mlperf_ref.py`` (its
functions are used): each run has its own stand-ins, corpus copy, fresh virtual environment,
pip and bytecode caches and home, so every run is cold (pip installs, the LoadGen build).
The cm-snakemake runs are ``cm-snakemake run "<request>" <flags> --jobs=N`` (one Snakemake
process, one job per node with a job of its own). After each of them the same command runs
again (warm), and must print Snakemake's "Nothing to be done".

Printed: per run the wall and CPU seconds, the verdict of LoadGen's summary and the Snakemake
jobs per rule; the plan's figures (nodes, dependencies decided at plan time, nodes that get
jobs of their own, static dependencies that run inside their caller's job, from
``cm-snakemake plan --json``); the ratios cmind / ``-j 1``, cmind / ``-j 2`` and ``-j 1`` /
``-j 2`` of the wall time. A run that fails (non-zero exit, no ``Result is : VALID``, a warm
run that does work) is shown as FAILED and the script exits 1.

Usage::

    python benchmarks/bench_snakemake_ref.py [--cm-python PATH] [--corpus DIR] [--source DIR]
        [--timeout 3600] [--keep]

Takes about 10 minutes on 2 cores. Type-check with
``MYPYPATH=tests/data:benchmarks mypy --strict benchmarks/bench_snakemake_ref.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
import bench_mlperf_ref as ref
import make_cm_mlperf_ref_golden as cm_golden
import mlperf_ref_standins as standins

RUNS: tuple[tuple[str, list[str]], ...] = (
    ("cmind", []),
    ("cmsm -j 1", ["--jobs=1"]),
    ("cmsm -j 2", ["--jobs=2"]),
)


def jobs_of(text: str) -> dict[str, int]:
    """Snakemake's "Job stats" table of a run: jobs per rule (the request's rule left out)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("cm_") and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    counts.pop("cm_request", None)
    return counts


def plan_figures(tool: ref.Tool) -> dict[str, object]:
    done = subprocess.run(
        [*tool.command, "plan", standins.REQUEST, *tool.request.flags(), "--json"],
        env=tool.env,
        cwd=tool.work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": ref.first_line(done.stderr)}
    stats: dict[str, object] = json.loads(done.stdout)["stats"]
    return stats


def warm_check(tool: ref.Tool, folder: Path) -> str | None:
    """The same command again in the same work folder: None when Snakemake had nothing to do."""
    argv = [*tool.command, "run", standins.REQUEST, *tool.request.flags(), *tool.flags]
    done = subprocess.run(
        argv,
        env=tool.env,
        cwd=folder / "work",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"warm run: exit {done.returncode}: {ref.first_line(done.stderr)}"
    if "Nothing to be done" not in done.stderr:
        return f"warm run did work: {jobs_of(done.stderr)}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cm-python", type=Path, default=cm_golden.DEFAULT_CM_PYTHON)
    parser.add_argument("--corpus", type=Path, default=cm_golden.DEFAULT_CORPUS)
    parser.add_argument("--source", type=Path, default=None, help="mlcommons/inference subset")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for one run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    cm = args.cm_python.parent / "cm"
    if not cm.is_file():
        sys.exit(f"no `cm` next to {args.cm_python} (pip install cmind==4.2.0 into that venv)")
    source = args.source or standins.find_inference_source()
    if source is None:
        sys.exit("no mlcommons/inference v5.0.1 source; pass --source")

    tmp = Path(tempfile.mkdtemp(prefix="cmsm-bench-snakemake-")).resolve()
    failures = 0
    try:
        print(
            f"python {platform.python_version()}, {os.cpu_count()} cpus, load average "
            f"{os.getloadavg()[0]:.2f}; request: {standins.REQUEST}; work folder {tmp}",
            flush=True,
        )
        walls: dict[str, float] = {}
        figures: dict[str, object] = {}
        for label, flags in RUNS:
            name = "cmind" if label == "cmind" else "cm-snakemake"
            tool = ref.make_tool(name, tmp / label.replace(" ", ""), corpus, source, cm)
            tool.flags = list(flags)
            if name != "cmind" and not figures:
                figures = plan_figures(tool)
            start = time.perf_counter()
            out = ref.run_once(tool, "cold", args.cm_python, args.timeout)
            out.seconds = time.perf_counter() - start
            text = f"  {label:<10} {ref.describe(out)}"
            if name != "cmind" and out.error is None:
                text += f"; jobs {jobs_of(out.log.read_text(errors='replace'))}"
                out.error = warm_check(tool, tool.work / "runs" / "cold")
                text += "; warm: " + (out.error or "Nothing to be done")
            print(text, flush=True)
            if out.error is not None:
                failures += 1
                lines = out.log.read_text(errors="replace").splitlines()
                print("\n".join("    " + x for x in lines[-ref.LOG_TAIL :]))
            else:
                walls[label] = out.seconds
        print(f"plan: {figures}")
        pairs = (("cmind", "cmsm -j 1"), ("cmind", "cmsm -j 2"), ("cmsm -j 1", "cmsm -j 2"))
        for a, b in pairs:
            if a in walls and b in walls:
                print(f"wall {a} / {b}: {walls[a] / walls[b]:.2f}x")
            else:
                print(f"wall {a} / {b}: n/a (a run FAILED)")
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        return 1 if failures else 0
    finally:
        if args.keep or failures:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
