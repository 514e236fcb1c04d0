#!/usr/bin/env python3
"""Load: a synthetic plan of 10,000 trivial nodes run to completion by Snakemake with ``-j 2``.

The plan is the scale repository of ``bench_snakemake.py`` (a ``top`` script over ``mid``
scripts over ten ``leaf`` scripts each, a dynamic variation per node; no native scripts, so
every node is a job that only plans, records and caches), sized to the requested node count.
Each node is a real Snakemake job running ``python -m cm_snakemake job`` and leaving a
complete cache entry.

Printed: wall time, throughput (nodes per second) and the peak memory (RSS) of the Snakemake
controller process (sampled every 0.2 s, its jobs excluded); the run is then checked: every
node has a complete cache entry. The baseline, run in the same invocation, is plain Snakemake
running the same DAG shape with rules whose jobs only ``touch`` their output: the ratio is
what a CM node costs over Snakemake's own per-job cost.

Usage::

    python benchmarks/bench_load.py [--nodes 10000] [--jobs 2] [--skip-baseline]
                                    [--scheduler greedy|ilp]

Snakemake's default ILP scheduler slows down sharply with thousands of ready jobs (2,000
plain jobs: 57 s with ILP, 24 s with greedy, same machine), so the profiles and this benchmark
use the greedy one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env
from bench_snakemake import write_scale_repo

CM_SNAKEFILE = """\
from cm_snakemake.snake import cm

rule all:
    input: cm.target("top")

include: cm.rules()
"""

PLAIN_SNAKEFILE = """\
MIDS = range({mids})

rule all:
    input: "top.done"

rule top:
    input: expand("mid/{{m}}.done", m=MIDS)
    output: touch("top.done")

rule mid:
    input: lambda wc: expand("leaf/{{m}}-{{i}}.done", m=wc.m, i=range(10))
    output: touch("mid/{{m}}.done")

rule leaf:
    output: touch("leaf/{{m}}-{{i}}.done")
"""


class PeakRSS:
    """The largest resident set size of one process, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_snakemake(
    workdir: Path, jobs: int, env: dict[str, str], scheduler: str
) -> tuple[float, int, str]:
    """Run Snakemake in ``workdir``; return wall seconds, controller peak RSS, stderr tail."""
    cmd = [sys.executable, "-m", "snakemake", f"-j{jobs}", "-q", "--scheduler", scheduler]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=err)
        peak = PeakRSS(proc.pid)
        code = proc.wait()
        seconds = time.perf_counter() - started
        rss = peak.stop()
        err.seek(0)
        tail = err.read()[-3000:]
    if code != 0:
        raise SystemExit(f"snakemake failed in {workdir} (exit {code}):\n{tail}")
    return seconds, rss, tail


def complete_entries(cache: Path) -> int:
    return sum(1 for _ in cache.glob("*/*/cmsm-result.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--scheduler",
        default="greedy",
        choices=["greedy", "ilp"],
        help="Snakemake's job scheduler (the profiles use greedy)",
    )
    args = parser.parse_args()
    mids = max(1, round((args.nodes - 1) / 11))
    nodes = 1 + mids * 11
    with tempfile.TemporaryDirectory(prefix="cmsm-load-") as tmp:
        work = Path(tmp)
        env = clean_env() | {"CMSM_HOME": str(work / "home")}
        env.pop("CMSM_CACHE", None)
        repo = write_scale_repo(work, mids)
        subprocess.run(
            [sys.executable, "-m", "cm_snakemake", "repo", "add", str(repo)],
            env=env,
            check=True,
            capture_output=True,
        )
        print(
            f"plan: {nodes} nodes (1 top, {mids} mid, {mids * 10} leaf), -j {args.jobs}, "
            f"{args.scheduler} scheduler"
        )

        baseline = None
        if not args.skip_baseline:
            plain = work / "plain"
            plain.mkdir()
            (plain / "Snakefile").write_text(PLAIN_SNAKEFILE.format(mids=mids))
            seconds, rss, _ = run_snakemake(plain, args.jobs, env, args.scheduler)
            baseline = nodes / seconds
            print(
                f"plain Snakemake, touch jobs: {seconds:8.1f} s  {baseline:7.1f} jobs/s  "
                f"controller peak RSS {rss / 2**20:6.0f} MiB"
            )

        flow = work / "cm"
        flow.mkdir()
        (flow / "Snakefile").write_text(CM_SNAKEFILE)
        seconds, rss, _ = run_snakemake(flow, args.jobs, env, args.scheduler)
        throughput = nodes / seconds
        done = complete_entries(work / "home" / "cache")
        print(
            f"cm_snakemake, CM nodes:      {seconds:8.1f} s  {throughput:7.1f} nodes/s "
            f"controller peak RSS {rss / 2**20:6.0f} MiB"
        )
        print(f"complete cache entries: {done} of {nodes}")
        if baseline:
            print(f"throughput ratio cm_snakemake / plain Snakemake: {throughput / baseline:.2f}")
        if done != nodes:
            raise SystemExit(f"{nodes - done} nodes have no complete cache entry")


if __name__ == "__main__":
    main()
