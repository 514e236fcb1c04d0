#!/usr/bin/env python3
"""Benchmark: the reduced ``mlperf_all`` on a SLURM cluster, before and after the cluster shape.

Runs the MLPerf workflow (digits-logreg; Offline and SingleStream; performance and accuracy:
4 benchmark runs) through the SLURM executor twice, each time from an empty cache and work
folder, with detection on the compute nodes (``cm_localrules=false``, as when their facts
differ from the submit host's):

* before: every node its own SLURM job (``cm_network_on_submit_host=false``,
  ``cm_group_tiny=false``, no ``group-components``, no job array);
* after: the profile ``cm-snakemake profile init slurm`` writes: network scripts on the submit
  host, the short jobs in the group ``cm-tiny`` (``group-components``), the benchmark matrix
  as a job array (``slurm-array-jobs``).

Both use the same profile otherwise (``profile init slurm --partition=P --jobs=4``: the same
polling), and the order alternates between repeats. Printed per run: sbatch calls (from
Snakemake's log: "has been submitted with SLURM jobid" and "Submitted array job"), the
Snakemake jobs that finished (on the cluster or the submit host), wall time; then the
after/before ratios. A failed run is FAILED and the script exits 1.

Usage (a cluster must be up, e.g. ``bash tests/slurm/start-slurm.sh``)::

    python benchmarks/bench_cluster_shape.py [--partition debug] [--repeats 1] [--group 2]

Takes about 2 minutes per repeat on the test cluster (2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
SOURCES = (REPO.parent / "shared" / "mlperf-inference" / "v6.1-b66003e",
           Path("/work/shared/mlperf-inference/v6.1-b66003e"))  # fmt: skip
SHAPE_OFF = ["cm_network_on_submit_host=false", "cm_group_tiny=false"]


def _profile(folder: Path, partition: str, group: int, shaped: bool) -> Path:
    command = [sys.executable, "-m", "cm_snakemake", "profile", "init", "slurm",
               f"--partition={partition}", "--jobs=4", f"--group={group}",
               f"--out={folder}"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    config = folder / "config.yaml"
    if not shaped:  # no grouping, no array: one SLURM job per cluster node
        lines = config.read_text().splitlines()
        kept = [x for x in lines if not x.startswith(("group-components:", "slurm-array-jobs:"))]
        config.write_text("\n".join(kept) + "\n")
    return folder


def _run(kind: str, base: Path, source: Path, partition: str, group: int) -> dict[str, object]:
    folder = base / kind
    shutil.rmtree(folder, ignore_errors=True)
    work = folder / "wf"
    work.mkdir(parents=True)
    profile = _profile(folder / "profile", partition, group, shaped=kind == "after")
    config = ["models=[digits-logreg]", "scenarios=[Offline,SingleStream]", "min_duration_ms=300",
              "min_query_count=32", "system_name=shapebox", f"inference_source={source}",
              "cm_localrules=false", *(SHAPE_OFF if kind == "before" else [])]  # fmt: skip
    env = {**os.environ, "CMSM_HOME": str(folder / "home")}
    env.pop("CMSM_CACHE", None)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(work), "--profile",
         str(profile), "mlperf_all", "--config", *config],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    log = done.stdout + done.stderr
    (folder / "snakemake.log").write_text(log)
    single = len(re.findall(r"has been submitted with SLURM jobid", log))
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+)", log)
    array_tasks = sum(len(a.split(",")) for a in arrays)
    groups = len(re.findall(r"^Job [0-9a-f-]{36} has been submitted", log, re.M))
    finished = len(re.findall(r"^Finished jobid: ", log, re.M))
    return {
        "kind": kind, "ok": done.returncode == 0, "seconds": seconds,
        "sbatch": single + len(arrays), "array_tasks": array_tasks, "group_jobs": groups,
        "single": single - groups, "finished": finished, "log": folder / "snakemake.log",
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--partition", default="debug")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--group", type=int, default=2, help="group-components of cm-tiny")
    ap.add_argument("--source", type=Path, default=None, help="mlcommons/inference checkout")
    args = ap.parse_args()
    sinfo = subprocess.run(["sinfo"], capture_output=True, check=False) if shutil.which(
        "sinfo") else None  # fmt: skip
    if sinfo is None or sinfo.returncode != 0:
        print("FAILED: no SLURM cluster answers (start one: bash tests/slurm/start-slurm.sh)")
        return 1
    source = args.source or next((p for p in SOURCES if p.is_dir()), None)
    if source is None:
        print("FAILED: no inference source; give --source")
        return 1
    base = Path(tempfile.mkdtemp(prefix="cmsm-shape-"))
    results: dict[str, list[dict[str, object]]] = {"before": [], "after": []}
    for repeat in range(args.repeats):
        order = ("before", "after") if repeat % 2 == 0 else ("after", "before")
        for kind in order:
            run = _run(kind, base, source, args.partition, args.group)
            results[kind].append(run)
            print(f"{kind:6s} repeat {repeat + 1}: sbatch calls {run['sbatch']} (single jobs "
                  f"{run['single']}, group jobs {run['group_jobs']}, arrays holding "
                  f"{run['array_tasks']} jobs), Snakemake jobs {run['finished']}, wall "
                  f"{run['seconds']:.1f} s")  # fmt: skip
            if not run["ok"]:
                print(f"FAILED: the {kind} run failed; its log: {run['log']}")
            if not run["ok"]:
                return 1

    def mean(kind: str, key: str) -> float:
        values = [float(r[key]) for r in results[kind]]  # type: ignore[arg-type]
        return sum(values) / len(values)

    for key, label in (("sbatch", "sbatch calls"), ("seconds", "wall time")):
        b, a = mean("before", key), mean("after", key)
        print(f"{label}: before {b:.1f}, after {a:.1f}, after/before {a / b:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
