#!/usr/bin/env python3
"""Benchmark: CM's front door ``run mlperf inference _find-performance`` for two scenarios.

``run-mlperf-inference-app`` runs the whole benchmark tree from its ``preprocess`` hook
(nested ``cmind.access`` runs, one per scenario and mode), so inside one request nothing can
be scheduled. Two scenarios are two requests; here they are asked for together:

* cmind 4.2.0: the two requests one after the other, one ``cm run`` process each, one home;
* cm-snakemake: a Snakefile whose ``all`` rule takes ``cm.target(...)`` of both requests,
  run cold with ``snakemake -j 1`` and ``-j 2``.

Each run has its own stand-ins (those of ``bench_mlperf_ref.py``), corpus copy, fresh virtual
environment, pip and bytecode caches and home, so every run is cold. Printed: per run the wall
and CPU seconds, LoadGen's verdict and SUT folder per scenario, and the Snakemake jobs per
rule; the ratios of the wall times. A run that fails, or a scenario without ``Result is :
VALID``, is FAILED and the script exits 1.

Usage::

    python benchmarks/bench_find_performance.py [--cm-python PATH] [--corpus DIR]
        [--source DIR] [--timeout 3600] [--keep]

Takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
import bench_mlperf_ref as ref
import bench_snakemake_ref as snake_ref
import make_cm_mlperf_ref_golden as cm_golden
import mlperf_ref_standins as standins

TAGS = "run,mlperf,inference,_find-performance,_short"
REQUEST = "run mlperf inference _find-performance _short"
SCENARIOS = ("Offline", "SingleStream")
IMPLEMENTATION = {"model": "resnet50", "implementation": "reference", "framework": "onnxruntime",
                  "device": "cpu", "test_query_count": "64"}  # fmt: skip


def inputs_of(tool: ref.Tool, scenario: str) -> dict[str, Any]:
    """The stand-ins' inputs of the reference request, for the front door and one scenario."""
    inputs = {k: v for k, v in tool.request.inputs.items() if k != "mode"}
    return {**inputs, **IMPLEMENTATION, "scenario": scenario}


def verdicts(results: Path) -> dict[str, str]:
    """``<SUT folder>/<scenario>: <Result is>`` of every performance summary under ``results``."""
    out: dict[str, str] = {}
    for summary in sorted(results.rglob("performance/run_1/mlperf_log_summary.txt")):
        scenario = summary.parents[2].name
        sut = summary.parents[4].name
        verdict = next(
            (
                line.split(":", 1)[1].strip()
                for line in summary.read_text(errors="replace").splitlines()
                if line.startswith("Result is")
            ),
            "not judged",
        )
        out[f"{sut}/{scenario}"] = verdict
    return out


def run_cmind(tool: ref.Tool, cm_python: Path, timeout: float) -> tuple[float, float, str | None]:
    cpu, start = ref.children_cpu(), time.perf_counter()
    for scenario in SCENARIOS:
        folder = tool.work / "runs" / scenario
        folder.mkdir(parents=True)
        request = {"tags": TAGS, "inputs": inputs_of(tool, scenario)}
        res = cm_golden.run_cm(cm_python, request, folder, tool.env, timeout)
        if res.get("return") != 0:
            error = f"{scenario}: cmind returned {res.get('return')}: "
            return 0.0, 0.0, error + ref.first_line(res.get("error"))
    return time.perf_counter() - start, ref.children_cpu() - cpu, None


def snakefile(tool: ref.Tool) -> str:
    targets = "".join(
        f"        cm.target({REQUEST!r}, **{inputs_of(tool, s)!r}),\n" for s in SCENARIOS
    )
    return (
        "from cm_snakemake.snake import cm\n\n"
        f"rule all:\n    input:\n{targets}\n"
        "include: cm.rules()\n"
    )


def run_snakemake(tool: ref.Tool, jobs: int, timeout: float) -> tuple[float, float, str | None]:
    work = tool.work / "runs" / "work"
    work.mkdir(parents=True)
    (work / "Snakefile").write_text(snakefile(tool))
    log = tool.work / "runs" / "snakemake.log"
    cpu, start = ref.children_cpu(), time.perf_counter()
    with log.open("w") as fh:
        try:
            rc: int | None = subprocess.run(  # noqa: PLW1510 - checked below
                [sys.executable, "-m", "snakemake", "-j", str(jobs)],
                env=tool.env,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            rc = None
    seconds, used = time.perf_counter() - start, ref.children_cpu() - cpu
    text = log.read_text(errors="replace")
    if rc != 0:
        why = f"timed out after {timeout:.0f} s" if rc is None else f"exit {rc}"
        return seconds, used, f"{why} (log: {log})"
    return seconds, used, f"jobs {snake_ref.jobs_of(text)}"


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

    tmp = Path(tempfile.mkdtemp(prefix="cmsm-bench-find-performance-")).resolve()
    failures = 0
    walls: dict[str, float] = {}
    try:
        print(
            f"python {platform.python_version()}, {os.cpu_count()} cpus, load average "
            f"{os.getloadavg()[0]:.2f}; {REQUEST} for {', '.join(SCENARIOS)}; work folder {tmp}",
            flush=True,
        )
        for label in ("cmind", "snakemake -j 1", "snakemake -j 2"):
            name = "cmind" if label == "cmind" else "cm-snakemake"
            tool = ref.make_tool(name, tmp / label.replace(" ", ""), corpus, source, cm)
            if name == "cmind":
                seconds, cpu, note = run_cmind(tool, args.cm_python, args.timeout)
                error = note
            else:
                seconds, cpu, note = run_snakemake(tool, int(label[-1]), args.timeout)
                error = None if note and note.startswith("jobs ") else note
            found = verdicts(tool.request.results_dir)
            if error is None and (len(found) != len(SCENARIOS) or set(found.values()) != {"VALID"}):
                error = f"expected {len(SCENARIOS)} VALID performance runs, found {found}"
            text = f"  {label:<15}{seconds:8.1f} s wall, {cpu:8.1f} s cpu"
            if error is not None:
                failures += 1
                print(f"{text}, FAILED: {error}", flush=True)
                continue
            walls[label] = seconds
            print(f"{text}; {found}" + (f"; {note}" if note else ""), flush=True)
        pairs = (("cmind", "snakemake -j 1"), ("cmind", "snakemake -j 2"),
                 ("snakemake -j 1", "snakemake -j 2"))  # fmt: skip
        for a, b in pairs:
            ratio = f"{walls[a] / walls[b]:.2f}x" if a in walls and b in walls else "n/a (FAILED)"
            print(f"wall {a} / {b}: {ratio}")
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        return 1 if failures else 0
    finally:
        if args.keep or failures:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
