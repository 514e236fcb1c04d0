#!/usr/bin/env python3
"""Benchmark: the cache-hit path of ``cm-snakemake run`` against ``cm run script``.

Two requests, each first run once by both tools so that everything is cached, then timed end
to end (fresh process each time, interleaved):

* ``get,python3`` from the cmx4mlops 1.0.1 corpus;
* a chain of 10 cached scripts (``chain-1`` needs ``chain-2`` ... needs ``chain-10``), written
  by this benchmark into a small repository registered with both tools.

Usage::

    python benchmarks/bench_run.py [--repeat 10] [--cm PATH_TO_cm]

Goal (issue "Runtime and cache store"): no slower than CM on the cache-hit path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env, cm_executable, cm_home, corpus, ms, run_quiet, timed

CHAIN = 10


def write_chain(root: Path) -> Path:
    repo = root / "chain-repo"
    (repo / "script").mkdir(parents=True)
    (repo / "cmr.yaml").write_text("alias: bench-chain\nuid: 0000000000abcdef\ngit: false\n")
    for n in range(1, CHAIN + 1):
        folder = repo / "script" / f"chain-{n}"
        folder.mkdir()
        deps = f"deps:\n- tags: chain-{n + 1}\n" if n < CHAIN else ""
        (folder / "_cm.yaml").write_text(
            f"alias: chain-{n}\nuid: '{n:016x}'\nautomation_alias: script\n"
            f"automation_uid: 5b4e0237da074764\ntags: [chain-{n}]\ncache: true\n"
            f"new_env_keys: [CM_CHAIN_*]\n{deps}"
        )
        (folder / "run.sh").write_text(f'echo "CM_CHAIN_{n}=done" >> tmp-run-env.out\n')
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--cm", help="path of CM's 'cm' command (default: a private venv)")
    args = parser.parse_args()
    root = corpus()
    cm = cm_executable(args.cm)
    work = Path(tempfile.mkdtemp())
    chain = write_chain(work)
    ours_env = {**clean_env(), "CMSM_HOME": str(work / "cmsm")}
    ours = [sys.executable, "-m", "cm_snakemake"]
    run_quiet([*ours, "repo", "add", str(root)], ours_env, str(work))
    run_quiet([*ours, "repo", "add", str(chain)], ours_env, str(work))
    cm_env = cm_home(work, root, cm)
    run_quiet([cm, "import", "repo", f"--path={chain}"], cm_env, str(work))
    figures = {}
    for label, tags in (("get,python3", "get,python3"), (f"chain of {CHAIN}", "chain-1")):
        our_cmd = [*ours, "run", tags, "--quiet"]
        cm_cmd = [cm, "run", "script", f"--tags={tags}", "--quiet"]
        run_quiet(our_cmd, ours_env, str(work))  # build (cold), then every timed run hits
        run_quiet(cm_cmd, cm_env, str(work))
        out = run_quiet(our_cmd, ours_env, str(work))
        assert "CM_" in out, out
        ours_s: list[float] = []
        cm_s: list[float] = []
        for _ in range(args.repeat):
            ours_s += timed(lambda c=our_cmd: run_quiet(c, ours_env, str(work)), 1)  # type: ignore[misc]
            cm_s += timed(lambda c=cm_cmd: run_quiet(c, cm_env, str(work)), 1)  # type: ignore[misc]
        figures[label] = (ours_s, cm_s)
    ok = True
    for label, (ours_s, cm_s) in figures.items():
        ratio = statistics.median(cm_s) / statistics.median(ours_s)
        ok = ok and ratio >= 1
        print(f"{label}, all cached, end to end:")
        print(f"  cm-snakemake run:      {ms(ours_s)}")
        print(f"  cm run script (CM 4.x): {ms(cm_s)}")
        print(f"  ratio cm / cm-snakemake: {ratio:.2f}x   (goal >= 1)")
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
