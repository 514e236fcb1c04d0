#!/usr/bin/env python3
"""Benchmark: CM's MLPerf reference request run by cmind 4.2.0 and by cm-snakemake, cold and warm.

The request is ``app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test``
over the cmx4mlops 1.0.1 corpus, with the local stand-ins and inputs of
``tests/data/mlperf_ref_standins.py`` (a local git repository of mlcommons/inference v5.0.1, a
tiny ONNX model with ResNet50's interface, 64 preprocessed images, a local
``caffe_ilsvrc12.tar.gz``; performance mode, results in a known folder). Everything else is
real: both tools pip-install onnxruntime, opencv, pycocotools, ... and build LoadGen from
source (cmake, then pip), then run the reference harness under LoadGen.

Each tool gets the setting its test uses, in its own folder of one temporary folder: its own
stand-ins (made by the same function, same content), its own copy of the corpus (the scripts
write into their own folders), its own fresh virtual environment first on ``PATH`` (the
corpus's ``get-python3`` finds it, every pip install goes into it, the harness runs with it),
and the same scrubbed environment (``CM_*``/``CMSM_*``, ``PYTHONPATH``, ``VIRTUAL_ENV``
removed; stdin from /dev/null):

* cmind: as ``tests/data/make_cm_mlperf_ref_golden.py`` runs it (its ``run_cm`` is called):
  a child process ``<cmind venv python> make_cm_mlperf_ref_golden.py --child`` that calls
  ``cmind.access({"action": "run", "automation": "script", ...})``, with a private
  ``CM_REPOS``, ``CM_CORE_SKIP_INTERNAL_REPOS=yes`` and the corpus copy registered by
  ``cm import repo`` beforehand;
* cm-snakemake: as ``tests/integration/test_mlperf_ref.py`` runs it: ``<this python> -m
  cm_snakemake run "<request>" <flags>`` (this work tree, installed editable; checked), with a
  private ``CMSM_HOME`` and the corpus copy registered by ``cm-snakemake repo add``
  beforehand.

Two changes to that setting, the same for both tools: each has its own, initially empty, pip
cache (``PIP_CACHE_DIR``; sharing one would hand the second tool of the cold pass the
downloads and built wheels of the first) and its own bytecode cache (``PYTHONPYCACHEPREFIX``,
empty at first, instead of ``PYTHONDONTWRITEBYTECODE=1``), both kept for the warm pass.

The cold pass runs the request once with each tool (cmind, then cm-snakemake) on empty caches
and homes, so it includes the pip installs (from the machine's pip configuration: its local
indexes and PyPI) and the LoadGen build; each warm pass runs the same request again with the
caches the cold pass left. Before each warm run the previous results folder is moved aside
(``results`` -> ``results-<pass>``): the corpus skips the LoadGen run when that folder already
holds results, and every run's verdict must come from its own summary. Registering the corpus
copies, making the venvs and the stand-ins is not timed.

Usage::

    python benchmarks/bench_mlperf_ref.py [--quick] [--warm-rounds 1] [--cm-python PATH]
        [--corpus DIR] [--source DIR] [--timeout 3600] [--keep]

``--quick`` runs the cold pass only. The defaults are the test cache's cmind venv
(``~/.cache/cm-snakemake-tests/cmind-4.2.0``) and corpus
(``~/.cache/cm-snakemake-tests/cmx4mlops-1.0.1/cmx4mlops``; ``$CMSM_TEST_CACHE`` moves both),
and the inference source ``mlperf_ref_standins.py`` finds. Takes about 10 to 15 minutes on 2
cores. Type-check with ``MYPYPATH=tests/data mypy --strict benchmarks/bench_mlperf_ref.py``.

Printed: per run the wall and CPU seconds (user + system of the process tree), the verdict and
samples per second of LoadGen's summary, for cmind the script runs it served from its cache,
and the cache entries the run added (named by script when they are few: a warm run that adds
entries rebuilt something); then per pass the seconds of each tool and the ratios cmind /
cm-snakemake (above 1.0: cm-snakemake is faster), of the wall time and of the CPU time. A run
fails when its tool exits non-zero (or times out) or when its results folder has no ``Result
is : VALID`` summary: it is shown as FAILED with its error and the end of its log, never as a
figure, a tool whose cold run failed gets no warm run, the temporary folder is kept and the
script exits 1. Not collected by pytest (``testpaths`` is ``tests``, and the name is not
``test_*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
import make_cm_mlperf_ref_golden as cm_golden
import mlperf_ref_standins as standins

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("cmind", "cm-snakemake")
LOG_TAIL = 40  # lines of a failed run's log that are printed
LABEL = 14  # width of the first column of the table
NAMED = 8  # new cache entries of at most this many scripts are named


@dataclass
class Outcome:
    tool: str
    seconds: float
    cpu: float
    log: Path
    verdict: str | None = None  # "Result is" of LoadGen's summary
    samples_per_second: str | None = None
    cached_hits: int | None = None  # cmind: script runs served from its cache
    script_runs: int | None = None  # cmind: script runs in all
    new_entries: list[str] = field(default_factory=list)  # aliases of new cache entries
    error: str | None = None  # None: succeeded


@dataclass
class Tool:
    """One tool's private setting: stand-ins, corpus copy, venv, home, environment."""

    name: str
    work: Path
    request: standins.Request
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # more flags of ``run`` (``--jobs=2``)

    def setup(self, argv: list[str]) -> str:
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-2000:]
            sys.exit(f"{self.name}: setup failed ({done.returncode}): {argv}\n{tail}")
        return done.stdout


def children_cpu() -> float:
    """CPU seconds of the finished child processes (and their waited-for descendants)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_tool(name: str, work: Path, corpus: Path, source: Path, cm: Path) -> Tool:
    """Stand-ins, a corpus copy, a fresh venv first on PATH and the tool's environment."""
    work.mkdir(parents=True)
    request = standins.build(work / "standins", source)
    copy = work / "cmx4mlops"  # the scripts write into their own folders (user.conf)
    shutil.copytree(corpus, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    venv = work / "pyvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = cm_golden.scrubbed_env(work / "cmhome", venv / "bin")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    env |= {"PYTHONPYCACHEPREFIX": str(work / "pycache"), "PIP_CACHE_DIR": str(work / "pip")}
    if name != "cmind":
        for key in ("CM_REPOS", "CM_CORE_SKIP_INTERNAL_REPOS"):
            env.pop(key)
        env["CMSM_HOME"] = str(work / "cmsm-home")
    tool = Tool(name, work, request, env)
    if name == "cmind":
        tool.setup([str(cm), "import", "repo", f"--path={copy}"])
    else:
        tool.command = [sys.executable, "-m", "cm_snakemake"]
        code = "import cm_snakemake; print(cm_snakemake.__file__)"
        where = Path(tool.setup([sys.executable, "-c", code]).strip()).resolve()
        if not where.is_relative_to(REPO):
            sys.exit(f"cm_snakemake is imported from {where}, not from {REPO}")
        tool.setup([*tool.command, "repo", "add", str(copy)])
    return tool


def cache_entries(tool: Tool) -> dict[Path, str]:
    """The tool's cache entries: folder -> script alias."""
    if tool.name != "cmind":
        root = Path(tool.env["CMSM_HOME"]) / "cache"
        return {d: d.parent.name for d in root.glob("*/*") if d.is_dir()}
    out: dict[Path, str] = {}
    for d in (Path(tool.env["CM_REPOS"]) / "repos" / "local" / "cache").glob("*"):
        try:
            meta = json.loads((d / "_cm.json").read_text())
        except (OSError, ValueError):
            meta = {}
        out[d] = str(meta.get("associated_script_artifact") or "?").split(",")[0]
    return out


def first_line(text: str | None) -> str:
    lines = [x.strip() for x in (text or "").splitlines() if x.strip()]
    return (lines[0] if lines else "(no message)")[:300]


def run_cmind(tool: Tool, folder: Path, cm_python: Path, timeout: float) -> Outcome:
    """The request in a CM child process, as make_cm_mlperf_ref_golden.py runs it."""
    folder.mkdir(parents=True)
    cpu, start = children_cpu(), time.perf_counter()
    res = cm_golden.run_cm(cm_python, tool.request.to_json(), folder, tool.env, timeout)
    out = Outcome(tool.name, time.perf_counter() - start, children_cpu() - cpu, folder / "cm.log")
    out.cached_hits, out.script_runs = res.get("cached_hits"), len(res.get("runs") or [])
    if res.get("return") != 0:
        out.error = f"cmind returned {res.get('return')}: {first_line(res.get('error'))}"
    return out


def run_cmsm(tool: Tool, folder: Path, timeout: float) -> Outcome:
    """``cm-snakemake run "<request>" <flags>``, as test_mlperf_ref.py runs it."""
    work = folder / "work"
    work.mkdir(parents=True)
    log = folder / "cmsm.log"
    argv = [*tool.command, "run", standins.REQUEST, *tool.request.flags(), *tool.flags]
    cpu, start = children_cpu(), time.perf_counter()
    rc: int | None = None
    with log.open("w") as lf:
        try:
            rc = subprocess.run(  # noqa: PLW1510 - the return code is checked below
                argv,
                env=tool.env,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=lf,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            pass
    out = Outcome(tool.name, time.perf_counter() - start, children_cpu() - cpu, log)
    if rc != 0:
        lines = log.read_text(errors="replace").splitlines()
        error = next((x for x in lines if x.startswith("cm-snakemake error:")), None)
        why = f"timed out after {timeout:.0f} s" if rc is None else f"exit {rc}"
        out.error = f"{why}: {first_line(error or (lines[-1] if lines else None))}"
    return out


def run_once(tool: Tool, label: str, cm_python: Path, timeout: float) -> Outcome:
    """One run of the request; its verdict is read from the results folder, then that folder
    is moved aside to ``results-<label>`` (the next run must write its own)."""
    results = tool.request.results_dir
    folder = tool.work / "runs" / label
    before = cache_entries(tool)
    if tool.name == "cmind":
        out = run_cmind(tool, folder, cm_python, timeout)
    else:
        out = run_cmsm(tool, folder, timeout)
    out.new_entries = sorted(a for d, a in cache_entries(tool).items() if d not in before)
    summary = standins.read_results(results).get("summary", {})
    out.verdict = summary.get("Result is")
    out.samples_per_second = summary.get("Samples per second")
    if out.error is None and out.verdict != "VALID":
        out.error = f"no 'Result is : VALID' in LoadGen's summary (found {out.verdict!r})"
    if results.exists():
        results.rename(results.with_name(f"results-{label}"))
    return out


def describe(out: Outcome) -> str:
    text = f"{out.seconds:8.1f} s wall, {out.cpu:8.1f} s cpu"
    if out.error:
        return f"{text}, FAILED: {out.error}"
    text += f", Result is {out.verdict}, {out.samples_per_second} samples/s"
    if out.cached_hits is not None:
        text += f", {out.cached_hits} of {out.script_runs} script runs from CM's cache"
    counts = Counter(out.new_entries)
    names = ", ".join(f"{a} x{n}" if n > 1 else a for a, n in sorted(counts.items()))
    text += f"; {len(out.new_entries)} new cache entries"
    return text + (f" ({names})" if 0 < len(counts) <= NAMED else "")


def failed(out: Outcome | None) -> bool:
    return out is None or out.error is not None


def row(label: str, runs: list[dict[str, Outcome | None]]) -> str:
    """Median wall and CPU seconds of each tool over ``runs``, and the ratios; FAILED for a
    tool with a failed run among them (and no ratio)."""
    done = [o for r in runs for o in r.values() if o is not None]
    cells = {t: "FAILED" for t in TOOLS if any(failed(r[t]) for r in runs)}
    ok = [t for t in TOOLS if t not in cells]
    wall = {t: statistics.median(o.seconds for o in done if o.tool == t) for t in ok}
    cpu = {t: statistics.median(o.cpu for o in done if o.tool == t) for t in ok}
    a, b = TOOLS
    if cells:
        return (
            f"{label:<{LABEL}}"
            + "".join(f"{cells.get(t) or f'{wall[t]:.1f} s':>{w}}" for t, w in ((a, 12), (b, 16)))
            + f"{'n/a':>10}"
        )
    return (
        f"{label:<{LABEL}}{wall[a]:>10.1f} s{wall[b]:>14.1f} s{wall[a] / wall[b]:>9.2f}x"
        f"{cpu[a]:>12.1f} s{cpu[b]:>14.1f} s{cpu[a] / cpu[b]:>9.2f}x"
    )


def report(passes: list[str], results: dict[str, dict[str, Outcome | None]]) -> int:
    """Print the table and the failures; return the number of failed or skipped runs."""
    print(
        f"\n{'':<{LABEL}}{'wall time':^38}{'CPU time':^40}\n{'pass':<{LABEL}}{'cmind':>12}"
        f"{'cm-snakemake':>16}{'ratio':>10}{'cmind':>14}{'cm-snakemake':>16}{'ratio':>10}"
    )
    for p in passes:
        print(row(p, [results[p]]))
    warm = [results[p] for p in passes if p != "cold"]
    if len(warm) > 1:
        print(row("warm, median", warm))
    print("ratio = cmind / cm-snakemake (above 1.0: cm-snakemake is faster)")
    bad = [(p, t, results[p][t]) for p in passes for t in TOOLS if failed(results[p][t])]
    if bad:
        print(f"\nFAILED runs ({len(bad)}; left out of the table):")
        for p, t, o in bad:
            if o is None:
                print(f"  {p:<7} {t:<13} skipped: its cold run failed")
                continue
            print(f"  {p:<7} {t:<13} {o.error}\n  --- end of {o.log} ---")
            lines = o.log.read_text(errors="replace").splitlines() if o.log.is_file() else []
            print("\n".join("    " + x for x in lines[-LOG_TAIL:]))
    return len(bad)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the cold pass only")
    parser.add_argument("--warm-rounds", type=int, default=1, help="warm passes after the cold")
    parser.add_argument("--cm-python", type=Path, default=cm_golden.DEFAULT_CM_PYTHON)
    parser.add_argument("--corpus", type=Path, default=cm_golden.DEFAULT_CORPUS)
    parser.add_argument("--source", type=Path, default=None, help="mlcommons/inference subset")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for one run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    corpus = args.corpus.resolve()
    if not (corpus / "cmr.yaml").is_file():
        sys.exit(f"no cmr.yaml in corpus path {corpus}")
    cm = args.cm_python.parent / "cm"
    if not cm.is_file():
        sys.exit(f"no `cm` next to {args.cm_python} (pip install cmind==4.2.0 into that venv)")
    source = args.source or standins.find_inference_source()
    if source is None:
        tried = ", ".join(str(p) for p in standins.source_candidates())
        sys.exit(f"no mlcommons/inference v5.0.1 source (tried {tried}); pass --source")

    tmp = Path(tempfile.mkdtemp(prefix="cmsm-bench-mlperf-ref-")).resolve()
    failures = 0
    try:
        tools = [make_tool(t, tmp / t, corpus, source, cm) for t in TOOLS]
        cmind_version = tools[0].setup([str(cm), "version"]).split()[-1]
        print(
            f"python {platform.python_version()}, cmind {cmind_version}, {os.cpu_count()} cpus, "
            f"load average {os.getloadavg()[0]:.2f}; corpus {corpus}; source {source}; "
            f"work folder {tmp}"
        )
        print(f"request: {standins.REQUEST}", flush=True)
        warm = 0 if args.quick else args.warm_rounds
        passes = ["cold"] + ["warm" if warm == 1 else f"warm{n + 1}" for n in range(warm)]
        results: dict[str, dict[str, Outcome | None]] = {}
        for p in passes:
            results[p] = {}
            for tool in tools:  # back to back: cmind, then cm-snakemake
                if p != "cold" and failed(results["cold"][tool.name]):
                    results[p][tool.name] = None
                    continue
                out = run_once(tool, p, args.cm_python, args.timeout)
                results[p][tool.name] = out
                print(f"  {p:<6} {tool.name:<13} {describe(out)}", flush=True)
        failures = report(passes, results)
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        return 1 if failures else 0
    finally:
        if args.keep or failures:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
