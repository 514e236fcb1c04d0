#!/usr/bin/env python3
"""Benchmark: the MLC golden requests run by mlcflow 1.3.8 and by cm-snakemake, cold and warm.

The requests are those of ``tests/data/mlc_run_golden.json`` that succeeded under mlcflow
(``returncode`` 0), each distinct request (tags + inputs) once, in the golden file's order
(later requests reuse what earlier ones cached, as there). Each tool gets the same setting as
``tests/data/make_mlc_run_golden.py``: its own fresh copy of the mlperf-automations snapshot,
its own private home (``MLC_REPOS=<work>/mlc/home/repos`` for mlcflow, ``CMSM_HOME=<work>/cmsm/
home`` for cm-snakemake), its own fresh virtual environment first on ``PATH`` (so
``get,python3`` finds it and pip installs go into it), ``MLC_*``/``CM_*``/``CMSM_*`` removed
from the environment, stdin from /dev/null and a fresh working folder per request.

Every request is one fresh process of each tool's command line, end to end, interleaved
(mlcflow, then cm-snakemake, request by request)::

    mlcflow:      <mlcflow venv>/bin/python -m mlc run script --tags=TAGS --quiet FLAGS
    cm-snakemake: <this python> -m cm_snakemake run --tags=TAGS --quiet --json FLAGS

where ``FLAGS`` are the request's inputs in the command-line syntax both tools share
(``--env.KEY=V``, ``--NAME=V``, ``--adr.NAME.tags=T``; ``<tmp>`` in an input is the tool's
work folder); cm-snakemake is imported from this work
tree (``PYTHONPATH``; checked). The cold pass starts from empty caches and fresh venvs (so it
includes the pip installs and cm-snakemake's first index build); each warm pass repeats the
same requests on what the cold pass left.

Usage::

    python benchmarks/bench_mlc.py [--warm-rounds 1] [--only ID,...] [--mlc-python PATH]
        [--corpus PATH.tar.gz] [--keep]

The mlcflow venv defaults to ``~/.cache/cm-snakemake-tests/mlcflow-1.3.8`` (made with
``python3 -m venv ... && .../bin/pip install mlcflow==1.3.8`` if missing); the corpus to
``$CMSM_MLC_CORPUS`` or ``/work/shared/corpora/mlperf-automations-20d3d94c.tar.gz``.

Printed: per request and pass the seconds of each tool, then per pass the totals over the
requests that succeeded in both tools and the ratio mlcflow / cm-snakemake (above 1.0:
cm-snakemake is faster). A request that fails in either tool (non-zero exit, a timeout, or
cm-snakemake's ``--json`` output not a JSON object) is shown as FAILED with the first line of
its error, counted, and left out of the totals; the script then exits 1. Not collected by
pytest (``testpaths`` is ``tests``, and the name is not ``test_*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "mlc_run_golden.json"
CORPUS = Path("/work/shared/corpora/mlperf-automations-20d3d94c.tar.gz")
MLCFLOW = "mlcflow==1.3.8"
MLC_VENV = Path.home() / ".cache" / "cm-snakemake-tests" / "mlcflow-1.3.8"
TIMEOUT = 900  # seconds for any one request
TOOLS = ("mlcflow", "cm-snakemake")


@dataclass
class Request:
    id: str
    tags: str
    inputs: dict[str, Any]


@dataclass
class Outcome:
    seconds: float
    error: str | None = None  # None: succeeded


@dataclass
class Tool:
    """One tool's private setting: corpus copy, home, venv, environment, command."""

    name: str
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)

    def run(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        with open(os.devnull) as devnull:
            return subprocess.run(
                argv,
                env=self.env,
                cwd=cwd,
                stdin=devnull,
                capture_output=True,
                text=True,
                check=False,
                timeout=TIMEOUT,
            )

    def setup(self, argv: list[str]) -> str:
        done = self.run(argv, self.work)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-2000:]
            sys.exit(f"{self.name}: setup failed ({done.returncode}): {argv}\n{tail}")
        return done.stdout + done.stderr


def input_flags(inputs: dict[str, Any], prefix: str = "") -> list[str]:
    """Inputs as command-line flags: ``{"env": {"K": "v"}}`` -> ``--env.K=v``."""
    flags: list[str] = []
    for key, value in inputs.items():
        name = prefix + key
        if isinstance(value, dict):
            flags += input_flags(value, name + ".")
        elif value is True:
            flags.append(f"--{name}")
        else:
            flags.append(f"--{name}={value}")
    return flags


# A request whose mlcflow result is its arbitrary pick among several cache entries, where
# cm-snakemake deliberately differs (docs/compatibility.md, "Running scripts"): the script has
# no package to install, and fails in both tools on an empty cache.
NOT_COMPARABLE = {"get-generic-python-lib-no-variation"}


def requests(golden: Path, only: set[str] | None) -> list[Request]:
    """The distinct requests that succeeded under mlcflow, in the golden file's order."""
    seen: set[str] = set()
    out: list[Request] = []
    for case in json.loads(golden.read_text())["cases"]:
        key = json.dumps([case["tags"], case["inputs"]], sort_keys=True)
        if case["returncode"] != 0 or key in seen or case["id"] in NOT_COMPARABLE:
            continue
        if only is not None and case["id"] not in only:
            continue
        seen.add(key)
        out.append(Request(case["id"], case["tags"], case["inputs"]))
    return out


def mlc_python(given: str | None) -> Path:
    if given:
        return Path(given)
    python = MLC_VENV / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(MLC_VENV)], check=True)
        subprocess.run([str(MLC_VENV / "bin" / "pip"), "install", "-q", MLCFLOW], check=True)
    return python


def unpack(corpus: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    with tarfile.open(corpus) as tar:
        tar.extractall(target, filter="data")
    root = target / "mlperf-automations"
    if not (root / "meta.yaml").is_file():
        sys.exit(f"{corpus}: no mlperf-automations/meta.yaml in it")
    return root


def base_env(work: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in clean_env().items()
        if not k.startswith(("MLC_", "CM_", "CMSM_"))
        and k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONPYCACHEPREFIX")
    }
    venv = work / "pyvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def make_mlcflow(work: Path, corpus: Path, python: Path) -> Tool:
    tool = Tool("mlcflow", work)
    work.mkdir(parents=True)
    root = unpack(corpus, work / "corpus")
    tool.env = base_env(work) | {"MLC_REPOS": str(work / "home" / "repos")}
    tool.command = [str(python), "-m", "mlc"]
    tool.setup([*tool.command, "add", "repo", str(root)])
    return tool


def make_cmsm(work: Path, corpus: Path) -> Tool:
    tool = Tool("cm-snakemake", work)
    work.mkdir(parents=True)
    root = unpack(corpus, work / "corpus")
    tool.env = base_env(work) | {"CMSM_HOME": str(work / "home"), "PYTHONPATH": str(REPO)}
    tool.command = [sys.executable, "-m", "cm_snakemake"]
    where = tool.setup([sys.executable, "-c", "import cm_snakemake; print(cm_snakemake.__file__)"])
    if not Path(where.strip()).resolve().is_relative_to(REPO):
        sys.exit(f"cm_snakemake imported from {where.strip()}, not from {REPO}")
    tool.setup([*tool.command, "repo", "add", str(root)])
    return tool


def argv_for(tool: Tool, req: Request) -> list[str]:
    inputs = json.loads(json.dumps(req.inputs).replace("<tmp>", str(tool.work)))
    flags = [f"--tags={req.tags}", "--quiet", *input_flags(inputs)]
    if tool.name == "mlcflow":
        return [*tool.command, "run", "script", *flags]
    return [*tool.command, "run", *flags, "--json"]


def first_error_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    for marker in ("Error", "error", "ERROR", "Traceback"):
        for line in lines:
            if marker in line:
                return line[:300]
    return (lines[-1] if lines else "(no output)")[:300]


def run_one(tool: Tool, req: Request, cwd: Path) -> Outcome:
    cwd.mkdir(parents=True)
    start = time.perf_counter()
    try:
        done = tool.run(argv_for(tool, req), cwd)
    except subprocess.TimeoutExpired:
        return Outcome(time.perf_counter() - start, f"timed out after {TIMEOUT} s")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return Outcome(seconds, f"exit {done.returncode}: {first_error_line(done.stderr)}")
    if tool.name == "cm-snakemake":
        try:
            data = json.loads(done.stdout)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return Outcome(seconds, f"--json printed no JSON object: {done.stdout[:200]!r}")
    return Outcome(seconds)


def report(
    passes: list[str], reqs: list[Request], results: dict[str, dict[str, dict[str, Outcome]]]
) -> int:
    """Print the table, the totals and the failures; return the number of failed runs."""
    width = max(len(r.id) for r in reqs) + 2
    head = "".join(f"{p + ' ' + t:>26}" for p in passes for t in TOOLS)
    print(f"\n{'request':<{width}}{head}")
    for req in reqs:
        cells = ""
        for p in passes:
            for t in TOOLS:
                o = results[p][req.id][t]
                cells += f"{'FAILED' if o.error else f'{o.seconds:.2f} s':>26}"
        print(f"{req.id:<{width}}{cells}")
    failures = 0
    print()
    for p in passes:
        ok = [r for r in reqs if all(results[p][r.id][t].error is None for t in TOOLS)]
        totals = {t: sum(results[p][r.id][t].seconds for r in ok) for t in TOOLS}
        failed = {t: sum(results[p][r.id][t].error is not None for r in reqs) for t in TOOLS}
        failures += sum(failed.values())
        ratio = (
            f"{totals['mlcflow'] / totals['cm-snakemake']:.2f}x"
            if ok and totals["cm-snakemake"] > 0
            else "n/a"
        )
        print(
            f"{p}: {len(ok)} of {len(reqs)} requests succeeded in both tools; over them "
            f"mlcflow {totals['mlcflow']:.1f} s, cm-snakemake {totals['cm-snakemake']:.1f} s, "
            f"ratio mlcflow / cm-snakemake {ratio}; failed: mlcflow {failed['mlcflow']}, "
            f"cm-snakemake {failed['cm-snakemake']}"
        )
    if failures:
        print(f"\nFAILED runs ({failures}; left out of the totals):")
        for p in passes:
            for req in reqs:
                for t in TOOLS:
                    err = results[p][req.id][t].error
                    if err:
                        print(f"  {p:<7} {t:<13} {req.id}: {err}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-rounds", type=int, default=1, help="warm passes after the cold")
    parser.add_argument("--only", help="comma-separated golden case ids")
    parser.add_argument("--mlc-python", help="python of a venv with mlcflow 1.3.8")
    parser.add_argument("--corpus", help="the mlperf-automations snapshot (.tar.gz)")
    parser.add_argument("--golden", default=str(GOLDEN), help="the golden file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    corpus = Path(args.corpus or os.environ.get("CMSM_MLC_CORPUS") or CORPUS)
    if not corpus.is_file():
        sys.exit(f"no corpus snapshot at {corpus} (pass --corpus or set CMSM_MLC_CORPUS)")
    reqs = requests(Path(args.golden), set(args.only.split(",")) if args.only else None)
    if not reqs:
        sys.exit("no requests selected")
    python = mlc_python(args.mlc_python)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mlcflow'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="cmsm-bench-mlc-"))
    try:
        tools = [make_mlcflow(tmp / "mlc", corpus, python), make_cmsm(tmp / "cmsm", corpus)]
        print(
            f"python {platform.python_version()}, mlcflow {version}, {os.cpu_count()} cpus; "
            f"corpus {corpus.name}; {len(reqs)} requests; work folder {tmp}"
        )
        passes = ["cold"] + [
            "warm" if args.warm_rounds == 1 else f"warm{n + 1}" for n in range(args.warm_rounds)
        ]
        results: dict[str, dict[str, dict[str, Outcome]]] = {}
        for p in passes:
            results[p] = {}
            for req in reqs:
                results[p][req.id] = {}
                for tool in tools:  # interleaved: mlcflow, then cm-snakemake
                    o = run_one(tool, req, tool.work / "runs" / p / req.id)
                    results[p][req.id][tool.name] = o
                print(
                    f"  {p:<6} {req.id:<52} "
                    + "  ".join(
                        f"{t}: {'FAILED' if o.error else f'{o.seconds:.2f} s'}"
                        for t, o in results[p][req.id].items()
                    ),
                    flush=True,
                )
        failures = report(passes, reqs, results)
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
