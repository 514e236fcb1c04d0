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
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("CMSM_BENCH_CACHE", Path.home() / ".cache" / "cm-snakemake-bench"))
TAGS = "get,python3"


def corpus() -> Path:
    root = CACHE / "cmx4mlops-1.0.1" / "cmx4mlops"
    if not (root / "cmr.yaml").is_file():
        wheels = CACHE / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "cmx4mlops==1.0.1",
             "-d", str(wheels)],
            check=True,
        )  # fmt: skip
        with zipfile.ZipFile(next(wheels.glob("cmx4mlops-1.0.1-*.whl"))) as zf:
            zf.extractall(CACHE / "cmx4mlops-1.0.1")
    return root


def cm_executable(given: str | None) -> str:
    if given:
        return given
    venv = CACHE / "cmvenv"
    exe = venv / "bin" / "cm"
    if not exe.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "cmind==4.2.0"], check=True)
    return str(exe)


def timed(fn: object, repeat: int) -> list[float]:
    assert callable(fn)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms, min {min(samples) * 1000:7.1f} ms"


def bench_in_process(root: Path, repeat: int) -> tuple[list[float], list[float]]:
    from cm_snakemake.index import ScriptIndex
    from cm_snakemake.repos import BUNDLED_REPO_PATH, open_repository

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


def run_quiet(cmd: list[str], env: dict[str, str], cwd: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def bench_end_to_end(root: Path, cm: str, repeat: int) -> tuple[list[float], list[float]]:
    work = Path(tempfile.mkdtemp())
    # Both tools run as installed software does: with bytecode caches (the warm-up writes them).
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ours_env = {**base, "CMSM_HOME": str(work / "cmsm")}
    cm_env = {k: v for k, v in base.items() if not k.startswith("CM_")}
    cm_env |= {"CM_REPOS": str(work / "cmhome"), "CM_CORE_SKIP_INTERNAL_REPOS": "yes"}
    corpus_copy = work / "cmx4mlops"  # CM writes into the repository it imports
    shutil.copytree(root, corpus_copy)
    ours = [sys.executable, "-m", "cm_snakemake"]
    run_quiet([*ours, "repo", "add", str(root)], ours_env, str(work))
    run_quiet([cm, "import", "repo", f"--path={corpus_copy}"], cm_env, str(work))
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
    version = run_quiet([cm, "version"], dict(os.environ), ".").strip().splitlines()[-1]
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
