#!/usr/bin/env python3
"""Benchmark: one valid MLPerf Offline run of the digits model, judged by MLCommons' checker.

Runs the MLPerf workflow (``workflows/mlperf/Snakefile``, target ``mlperf_all``) with
``run_style=valid`` for ``digits-logreg``, Offline, performance and accuracy: LoadGen applies
ResNet50's rules of its mlperf.conf (600 s, 24,576 samples at least, 1,024 performance
samples). The workflow's own submission rule runs the official checker of the inference
source; then this script runs that checker again with ``--skip-dataset-size-check``, the one
check a stand-in dataset cannot pass (digits' 450 validation images are not ImageNet's
50,000). Printed: the wall time, LoadGen's verdict, throughput and duration of the
performance run, the workflow's verdict and the second checker's verdict with every error it
reported. A workflow failure, an INVALID run, or any error of the second checker is FAILED and
the script exits 1.

The model is so cheap (about 400,000 samples/s in batches of 256) that the 600 s Offline query
would hold some 260 million samples, more memory than LoadGen and its Python binding can have
here (about 205 bytes each); ``max_batchsize=1`` (one onnxruntime call per sample, about
100,000 samples/s) keeps it near 77 million (16.5 GB of RSS in the last run). The harness
refuses a query that needs more than 80% of the memory available.

Usage::

    python benchmarks/bench_valid_run.py [--source DIR] [--work DIR] [--max-batchsize 1]

Takes about 13 minutes on 2 cores, with about 21 GB of memory free.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
SOURCES = (REPO.parent / "shared" / "mlperf-inference" / "v6.1-b66003e",
           Path("/work/shared/mlperf-inference/v6.1-b66003e"))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--source", type=Path, default=None, help="mlcommons/inference checkout")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: temporary)")
    ap.add_argument("--max-batchsize", type=int, default=1)
    args = ap.parse_args()
    source = args.source or next((p for p in SOURCES if p.is_dir()), None)
    if source is None:
        print("FAILED: no inference source; give --source", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="cmsm-valid-"))
    work.mkdir(parents=True, exist_ok=True)
    config = ["run_style=valid", "models=[digits-logreg]", "scenarios=[Offline]",
              f"max_batchsize={args.max_batchsize}", "system_name=validbox",
              f"inference_source={source}"]  # fmt: skip
    began = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(work),
               "-c2", "mlperf_all", "--config", *config]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    out = work / "results" / "mlperf"
    print(f"workflow: snakemake mlperf_all --config {' '.join(config)}")
    print(f"  exit {done.returncode}, {wall:.0f} s wall")
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        print("FAILED: the workflow failed")
        return 1
    failed = False
    perf = next(out.parent.parent.rglob("Offline/performance/result.json"), None)
    if perf is None:
        print("FAILED: no performance run's result.json")
        return 1
    data = json.loads(perf.read_text())
    detail = data["loadgen"]
    duration = (data["finished"] - data["started"]) / 60
    print(f"performance run: {detail.get('result_validity')}, "
          f"{detail.get('result_samples_per_second', 0):,.0f} samples/s, "
          f"{detail.get('effective_samples_per_query', 0):,} samples in one query, "
          f"{duration:.1f} min")  # fmt: skip
    failed |= detail.get("result_validity") != "VALID"
    print("\nthe workflow's verdict (submission-check.txt):")
    print((out / "submission-check.txt").read_text())

    sys.path.insert(0, str(REPO))
    from cm_snakemake.mlperf.checker import checker_version, run_checker

    tree = out / "submission"
    log = perf.parent / "mlperf_log_detail.txt"
    version = checker_version(str(source), str(log))
    report = run_checker(
        str(source),
        str(tree),
        run_style="valid",
        version=version,
        csv_path=str(work / "checker-skip-dataset-size.csv"),
        extra_flags=("--skip-dataset-size-check",),
    )
    print("the checker again, with --skip-dataset-size-check:")
    print(report.summary(str(tree)))
    for error in report.errors:
        print(f"  checker error: {error}")
    failed |= not report.valid_submission
    print("FAILED" if failed else "OK: a valid Offline submission but for the dataset's size")
    if not args.work:
        print(f"(work folder kept: {work})")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
