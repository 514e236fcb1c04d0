#!/usr/bin/env python3
"""Benchmark: a base git revision against the current work tree, same invocation, ratios.

The base revision is exported with ``git archive`` into a temporary folder; each tree is run
with ``PYTHONPATH=<tree root>`` (checked: ``cm_snakemake.__file__`` is printed once per tree,
and each Snakefile run records it too), its own ``CMSM_HOME`` and its own bytecode cache
(``PYTHONPYCACHEPREFIX``, so nothing is written into either source tree), in temporary
folders. Only interfaces that both trees share are used: the command line
(``python -m cm_snakemake ...``) and Snakefiles that do ``from cm_snakemake.snake import cm``.

Each measurement runs once against the base tree and once against the current tree,
interleaved (base, current, base, current ...), after untimed warm-up runs; medians are
compared as current / base, so below 1.0 is faster now:

1. ``find script --tags=get,python3``, warm, over the cmx4mlops 1.0.1 corpus (as
   ``bench_index.py``);
2. ``run get,python3 --quiet`` and ``run chain-1 --quiet`` (a chain of 10 cached scripts),
   cache hits (as ``bench_run.py``);
3. ``plan "app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test"
   --json --facts=FILE`` over the corpus (as ``bench_plan.py``): warm (index snapshot present)
   and cold (a fresh ``CMSM_HOME`` with the corpus just registered);
4. compile + ``snakemake -n`` of the synthetic plans of ``bench_snakemake.py`` at about 1,000
   and 10,000 nodes (a fresh workflow folder each round), and the dry-run again once compiled.

Usage::

    python benchmarks/bench_before_after.py [--base REV] [--current REV] [--quick]
        [--rounds 15] [--dry-rounds 5] [--big-rounds 3] [--keep]

``--quick`` skips the 10,000-node plan (about 3 minutes in all on 2 cores; the full run takes
about 10 to 15). ``--current REV`` exports a second revision instead of using the work tree:
a committed state that edits made during the run cannot change (``--current e0d3738`` with
the default base checks that the harness itself reports ratios of about 1.0).

Printed: one row per measurement with the median wall time of each tree and ``ratio``, the
current median over the base one; also ``min ratio`` (of the fastest rounds) and ``cpu ratio``
(of the median CPU time, user + system, of the processes), which other load on the machine
moves less. A command that fails, or whose output is not what it should be (``find`` not
ending on get-python3, ``run`` without exports, ``plan --json`` without nodes or with another
node count than in its warm-up, ``snakemake -n`` with another job count, a tree that imported
``cm_snakemake`` from elsewhere), fails its measurement: the row says FAILED, never a figure,
the error follows the table, and the script exits 1. Not collected by pytest (``testpaths``
is ``tests``, and the name is not ``test_*``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env, corpus
from bench_plan import REQUEST
from bench_run import write_chain
from bench_snakemake import write_scale_repo

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_BASE = "e0d3738"  # the last commit before the reorganisation into subpackages
TAGS = "get,python3"
TIMEOUT = 900  # seconds for any one command
Timing = tuple[float, float]  # wall seconds, CPU seconds (user + system) of the process tree
SNAKEFILE = """\
from cm_snakemake.snake import cm
import sys as _sys

with open("cmsm-package.txt", "w") as _fh:  # which tree this Snakefile imported
    _fh.write(_sys.modules["cm_snakemake"].__file__)

rule all:
    input: cm.target('top')

include: cm.rules()
"""


class Failed(Exception):
    """A command failed or printed something other than what it should."""


@dataclass
class Tree:
    label: str  # "base" or "current"
    root: Path  # the source root put on PYTHONPATH
    describe: str
    work: Path  # this tree's temporary folder: homes, repositories, workflows
    env: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        inherited = {
            k: v
            for k, v in clean_env().items()
            if not k.startswith("CMSM_")
            and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONPYCACHEPREFIX", "PYTHONSAFEPATH")
        }
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = inherited | {
            "PYTHONPATH": str(self.root),
            "CMSM_HOME": str(self.work / "home"),
            "PYTHONPYCACHEPREFIX": str(self.work / "pycache"),
        }

    def run(
        self, argv: list[str], *, cwd: Path | None = None, home: Path | None = None
    ) -> tuple[Timing, str]:
        """Run ``argv`` for this tree; its timing and standard output. Raises Failed."""
        env = self.env if home is None else {**self.env, "CMSM_HOME": str(home)}
        cpu = _children_cpu()
        start = time.perf_counter()
        try:
            done = subprocess.run(
                argv,
                env=env,
                cwd=cwd or self.work,
                capture_output=True,
                text=True,
                check=False,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise Failed(f"{self.label}: timed out after {TIMEOUT} s: {' '.join(argv)}") from None
        seconds = time.perf_counter() - start
        cpu = _children_cpu() - cpu
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-25:])[-3000:]
            raise Failed(f"{self.label}: exit {done.returncode}: {' '.join(argv)}\n{tail}")
        return (seconds, cpu), done.stdout

    def cmsm(
        self, *args: str, cwd: Path | None = None, home: Path | None = None
    ) -> tuple[Timing, str]:
        return self.run([sys.executable, "-m", "cm_snakemake", *args], cwd=cwd, home=home)

    def check_package(self, reported: str, where: str) -> None:
        path = Path(reported.strip()).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise Failed(
                f"{self.label}: {where} imported cm_snakemake from {path}, not from {self.root}"
            )


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (and their waited-for descendants)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the trees --------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def export(repo: Path, rev: str, target: Path) -> str:
    """Write revision ``rev`` of ``repo`` into ``target``; return its description."""
    sha = git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    data = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", sha], capture_output=True, check=True
    ).stdout
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(target, filter="data")
    return f"{sha[:10]} {git(repo, 'log', '-1', '--format=%s', sha)[:70]}"


def describe_work_tree(repo: Path) -> str:
    changed = git(repo, "status", "--porcelain", "--untracked-files=no").splitlines()
    state = f"{len(changed)} changed files" if changed else "clean"
    return f"work tree {repo} (HEAD {git(repo, 'rev-parse', '--short=10', 'HEAD')}, {state})"


# -- the measurements -------------------------------------------------------------------------


@dataclass
class Measurement:
    """``setup(tree)`` prepares and warms up one tree and returns its state; ``once(tree,
    state)`` is one timed round, ``{row: timing}``. Both raise Failed."""

    rows: list[str]
    rounds: int
    setup: Callable[[Tree], object]
    once: Callable[[Tree, object], dict[str, Timing]]


@dataclass
class Outcome:
    rows: list[str]
    rounds: int
    samples: dict[str, dict[str, list[Timing]]]  # row -> tree label -> timings
    error: str | None = None
    failed_tree: str | None = None


def measure(m: Measurement, trees: list[Tree]) -> Outcome:
    samples: dict[str, dict[str, list[Timing]]] = {r: {t.label: [] for t in trees} for r in m.rows}
    outcome = Outcome(m.rows, m.rounds, samples)
    current = trees[0]
    try:
        states = {}
        for tree in trees:
            current = tree
            states[tree.label] = m.setup(tree)
        for _ in range(m.rounds):
            for tree in trees:  # interleaved: base, current, base, current ...
                current = tree
                figures = m.once(tree, states[tree.label])
                for row in m.rows:
                    samples[row][tree.label].append(figures[row])
    except Failed as exc:
        outcome.error, outcome.failed_tree = str(exc), current.label
    print(f"  done: {m.rows[0]}" + (" (FAILED)" if outcome.error else ""), flush=True)
    return outcome


def prepare_tree(tree: Tree, root: Path) -> None:
    """Register the corpus and the chain repository, write a facts file, show the package."""
    _, out = tree.run([sys.executable, "-c", "import cm_snakemake; print(cm_snakemake.__file__)"])
    tree.check_package(out, "python -c")
    tree.notes["package"] = out.strip()
    tree.cmsm("repo", "add", str(root))
    tree.cmsm("repo", "add", str(write_chain(tree.work)))
    tree.cmsm("facts", f"--out={tree.work / 'facts.json'}")


def find_measurement(rounds: int) -> Measurement:
    row = f"find script --tags={TAGS}, warm"
    argv = ["find", "script", f"--tags={TAGS}"]

    def once(tree: Tree, _: object) -> dict[str, Timing]:
        seconds, out = tree.cmsm(*argv)
        if not out.split() or Path(out.split()[-1]).name != "get-python3":
            raise Failed(f"{tree.label}: find printed {out!r}, not the get-python3 script")
        return {row: seconds}

    def setup(tree: Tree) -> None:
        once(tree, None)
        once(tree, None)

    return Measurement([row], rounds, setup, once)


def run_measurement(tags: str, label: str, rounds: int) -> Measurement:
    row = f"run {label} --quiet, cache hit"

    def once(tree: Tree, _: object) -> dict[str, Timing]:
        seconds, out = tree.cmsm("run", tags, "--quiet")
        if "CM_" not in out:
            raise Failed(f"{tree.label}: run {tags} printed no exports: {out[-500:]!r}")
        return {row: seconds}

    def setup(tree: Tree) -> None:
        once(tree, None)  # builds the entries (cold), then every run is a cache hit
        once(tree, None)

    return Measurement([row], rounds, setup, once)


def plan_nodes(tree: Tree, out: str) -> int:
    try:
        data = json.loads(out)
        nodes = data["nodes"]
    except (ValueError, KeyError, TypeError):
        raise Failed(f"{tree.label}: plan --json printed no plan: {out[:500]!r}") from None
    if not isinstance(nodes, list) or not nodes:
        raise Failed(f"{tree.label}: plan --json printed a plan without nodes")
    return len(nodes)


def plan_measurement(rounds: int, *, cold: bool) -> Measurement:
    row = "plan MLPerf reference, " + ("cold (fresh home)" if cold else "warm index")

    def plan(tree: Tree, home: Path | None = None) -> tuple[Timing, int]:
        facts = f"--facts={tree.work / 'facts.json'}"
        seconds, out = tree.cmsm("plan", REQUEST, "--json", facts, home=home)
        return seconds, plan_nodes(tree, out)

    def setup(tree: Tree) -> int:
        _, nodes = plan(tree)
        plan(tree)
        tree.notes["plan nodes"] = str(nodes)
        return nodes

    def once(tree: Tree, nodes: object) -> dict[str, Timing]:
        home = None
        if cold:
            home = Path(tempfile.mkdtemp(prefix="cold-home-", dir=tree.work))
            tree.cmsm("repo", "add", str(corpus()), home=home)  # untimed: registering
        seconds, count = plan(tree, home)
        if count != nodes:
            raise Failed(f"{tree.label}: plan has {count} nodes, {nodes} in the warm-up")
        if home is not None:
            shutil.rmtree(home)
        return {row: seconds}

    return Measurement([row], rounds, setup, once)


def snakemake_measurement(size: int, rounds: int) -> Measurement:
    mids = max(1, size // 11)
    nodes = 1 + mids + mids * 10
    rows = [f"{nodes:,} nodes: compile + snakemake -n", f"{nodes:,} nodes: snakemake -n, compiled"]
    counter = iter(range(10**6))

    def dry_run(tree: Tree, wf: Path, home: Path) -> Timing:
        argv = [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-q",
            "rules",
            "-c1",
            "-s",
            str(wf / "Snakefile"),
        ]
        seconds, out = tree.run(argv, cwd=wf, home=home)
        totals = re.findall(r"^total\s+(\d+)\s*$", out, re.MULTILINE)
        if not totals or int(totals[-1]) != nodes + 1:  # the nodes and rule 'all'
            raise Failed(f"{tree.label}: snakemake -n planned {totals} jobs, not {nodes + 1}")
        tree.check_package((wf / "cmsm-package.txt").read_text(), "the Snakefile")
        return seconds

    def once(tree: Tree, home: object) -> dict[str, Timing]:
        assert isinstance(home, Path)
        wf = tree.work / f"wf-{size}-{next(counter)}"  # a fresh folder: the plan is compiled
        wf.mkdir()
        (wf / "Snakefile").write_text(SNAKEFILE)
        figures = {rows[0]: dry_run(tree, wf, home), rows[1]: dry_run(tree, wf, home)}
        shutil.rmtree(wf)
        return figures

    def setup(tree: Tree) -> Path:
        home = tree.work / f"home-{size}"
        repo = write_scale_repo(tree.work, mids)
        tree.cmsm("repo", "add", str(repo), home=home)
        tree.cmsm("facts", "--refresh", home=home)
        if size <= 2000:
            once(tree, home)  # warm-up: bytecode of snakemake, index, facts
        else:  # too long to repeat: the smaller plan warmed up the rest already
            tree.cmsm("find", "script", "--tags=top", home=home)
        return home

    return Measurement(rows, rounds, setup, once)


# -- the report -------------------------------------------------------------------------------


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms" if seconds < 1 else f"{seconds:8.2f} s "


def report(outcomes: list[Outcome], trees: list[Tree]) -> bool:
    base, cur = (t.label for t in trees)
    width = max(len(r) for o in outcomes for r in o.rows)
    head = (
        f"{'measurement':{width}s}  rounds  {'base median':>11s}  {'current median':>14s}"
        "  ratio  min ratio  cpu ratio"
    )
    print()
    print(head)
    print("-" * len(head))
    ok = True
    for o in outcomes:
        for row in o.rows:
            if o.error:
                ok = False
                cells = {t.label: ("FAILED" if t.label == o.failed_tree else "-") for t in trees}
                print(
                    f"{row:{width}s}  {o.rounds:6d}  {cells[base]:>11s}  {cells[cur]:>14s}"
                    f"  {'-':>5s}  {'-':>9s}  {'-':>9s}"
                )
                continue
            b = [wall for wall, _ in o.samples[row][base]]
            c = [wall for wall, _ in o.samples[row][cur]]
            b_cpu = statistics.median(cpu for _, cpu in o.samples[row][base])
            c_cpu = statistics.median(cpu for _, cpu in o.samples[row][cur])
            mb, mc = statistics.median(b), statistics.median(c)
            print(
                f"{row:{width}s}  {o.rounds:6d}  {fmt(mb):>11s}  {fmt(mc):>14s}  "
                f"{mc / mb:5.2f}  {min(c) / min(b):9.2f}  {c_cpu / b_cpu:9.2f}"
            )
    print("ratio: current / base, medians of the wall time; below 1.0 is faster now.")
    print("min ratio: the same of the fastest rounds; cpu ratio: of the median CPU time (user +")
    print("system) of the processes. Both are less sensitive to other load on the machine.")
    for o in outcomes:
        if o.error:
            print(f"\nFAILED: {o.rows[0]}\n{o.error}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"base revision ({DEFAULT_BASE})")
    parser.add_argument("--current", help="a revision to export instead of using the work tree")
    parser.add_argument("--quick", action="store_true", help="skip the 10,000-node plan")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of find, run and plan")
    parser.add_argument("--dry-rounds", type=int, default=5, help="rounds at 1,000 nodes")
    parser.add_argument("--big-rounds", type=int, default=3, help="rounds at 10,000 nodes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    repo = Path(git(Path(__file__).resolve().parent, "rev-parse", "--show-toplevel"))
    root = corpus()
    tmp = Path(tempfile.mkdtemp(prefix="cmsm-before-after-"))
    try:
        base_desc = export(repo, args.base, tmp / "src-base")
        trees = [Tree("base", tmp / "src-base", base_desc, tmp / "base")]
        if args.current:
            cur_desc = export(repo, args.current, tmp / "src-current")
            trees.append(Tree("current", tmp / "src-current", cur_desc, tmp / "current"))
        else:
            trees.append(Tree("current", repo, describe_work_tree(repo), tmp / "current"))
        snakemake = [sys.executable, "-m", "snakemake", "--version"]
        version = subprocess.run(snakemake, capture_output=True, text=True, check=True).stdout
        print(
            f"python {platform.python_version()}, snakemake {version.strip()}, "
            f"{os.cpu_count()} cpus; corpus: cmx4mlops 1.0.1"
        )
        for tree in trees:
            print(f"{tree.label:8s} {tree.describe}")
        outcomes: list[Outcome] = []
        failed_setup = None
        for tree in trees:
            try:
                prepare_tree(tree, root)
                print(f"{tree.label:8s} cm_snakemake.__file__ = {tree.notes['package']}")
            except Failed as exc:
                failed_setup = str(exc)
        if failed_setup:
            print(f"FAILED to prepare the trees:\n{failed_setup}")
            return 1
        measurements = [
            find_measurement(args.rounds),
            run_measurement(TAGS, TAGS, args.rounds),
            run_measurement("chain-1", "chain of 10", args.rounds),
            plan_measurement(args.rounds, cold=False),
            plan_measurement(args.rounds, cold=True),
            snakemake_measurement(1000, args.dry_rounds),
        ]
        if not args.quick:
            measurements.append(snakemake_measurement(10000, args.big_rounds))
        print("measuring (each round: base, then current):", flush=True)
        outcomes = [measure(m, trees) for m in measurements]
        ok = report(outcomes, trees)
        nodes = {t.label: t.notes.get("plan nodes", "?") for t in trees}
        if len(set(nodes.values())) > 1:
            print(f"note: the MLPerf plans differ: {nodes} nodes")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
