#!/usr/bin/env python3
"""Benchmark: loading the script index of the cmx4mlops corpus, and ``find`` against CM.

Measured in one invocation, side by side, so the ratios hold on a noisy machine:

1. in-process index load of the whole corpus: cold (empty index folder) and warm;
2. end-to-end ``cm-snakemake find script --tags=get,python3`` against
   ``cm find script --tags=get,python3`` (CM 4.x, ``cmind`` from the package index), both warm.

Usage::

    python benchmarks/bench_index.py [--repeat 15] [--cm PATH_TO_cm]

Without ``--cm`` a private venv with ``cmind==4.2.0`` is made under
``~/.cache/cm-snakemake-bench``. The corpus is downloaded with pip (``cmx4mlops==1.0.1``).
Goals (issue "Foundation"): warm find at least 2x faster than CM; warm load under 100 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env, cm_executable, cm_home, corpus, ms, run_quiet, timed

TAGS = "get,python3"


def bench_in_process(root: Path, repeat: int) -> tuple[list[float], list[float]]:
    from cm_snakemake.index.repos import BUNDLED_REPO_PATH, open_repository
    from cm_snakemake.index.scripts import ScriptIndex

    repos = [open_repository(BUNDLED_REPO_PATH, bundled=True), open_repository(root)]

    def cold() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            index = ScriptIndex(repos, cache_dir=Path(tmp))
            assert index.reread > 300

    warm_dir = Path(tempfile.mkdtemp())
    ScriptIndex(repos, cache_dir=warm_dir)

    def warm() -> None:
        index = ScriptIndex(repos, cache_dir=warm_dir)
        assert index.reread == 0 and len(index) > 300

    cold_s = timed(cold, max(3, repeat // 3))
    warm_s = timed(warm, repeat)
    shutil.rmtree(warm_dir)
    return cold_s, warm_s


def bench_end_to_end(root: Path, cm: str, repeat: int) -> tuple[list[float], list[float]]:
    work = Path(tempfile.mkdtemp())
    # Both tools run as installed software does: with bytecode caches (the warm-up writes them).
    ours_env = {**clean_env(), "CMSM_HOME": str(work / "cmsm")}
    cm_env = cm_home(work, root, cm)
    ours = [sys.executable, "-m", "cm_snakemake"]
    run_quiet([*ours, "repo", "add", str(root)], ours_env, str(work))
    ours_find = [*ours, "find", "script", f"--tags={TAGS}"]
    cm_find = [cm, "find", "script", f"--tags={TAGS}"]
    a = run_quiet(ours_find, ours_env, str(work))  # warm both, and check they agree
    b = run_quiet(cm_find, cm_env, str(work))
    assert Path(a.split()[-1]).name == Path(b.split()[-1]).name == "get-python3", (a, b)
    ours_s: list[float] = []
    cm_s: list[float] = []
    for _ in range(repeat):  # interleaved, so drifts in machine load hit both alike
        ours_s += timed(lambda: run_quiet(ours_find, ours_env, str(work)), 1)
        cm_s += timed(lambda: run_quiet(cm_find, cm_env, str(work)), 1)
    shutil.rmtree(work)
    return ours_s, cm_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--cm", help="path of CM's 'cm' command (default: a private venv)")
    args = parser.parse_args()
    root = corpus()
    cm = cm_executable(args.cm)
    version = run_quiet([cm, "version"], clean_env(), ".").strip().splitlines()[-1]
    cold_s, warm_s = bench_in_process(root, args.repeat)
    ours_s, cm_s = bench_end_to_end(root, cm, args.repeat)
    ratio = statistics.median(cm_s) / statistics.median(ours_s)
    print(f"corpus: cmx4mlops 1.0.1 + bundled repository; CM: cmind {version}")
    print(f"index load, in process, cold:  {ms(cold_s)}")
    print(f"index load, in process, warm:  {ms(warm_s)}   (goal < 100 ms)")
    print(f"find --tags={TAGS}, end to end, warm:")
    print(f"  cm-snakemake find:           {ms(ours_s)}")
    print(f"  cm find (CM 4.x):            {ms(cm_s)}")
    print(f"  ratio cm / cm-snakemake:     {ratio:.2f}x   (goal >= 2x)")
    ok = ratio >= 2 and statistics.median(warm_s) < 0.1
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
