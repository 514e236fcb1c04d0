#!/usr/bin/env python3
"""Soak: kill the Snakemake controller at many random points of a CM workflow.

Runs the kill chains of ``killrun.py`` (the test suite runs 20 kill points; this runs as many
as asked) and prints what was tried and what was lost. Exit status 1 if anything was.

Usage::

    python tests/soak/soak_kill.py [--kills 200] [--seed N] [--sleep 0.4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.soak.killrun import run_chains


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument(
        "--sleep", type=float, default=0.4, help="seconds each script pauses between its two writes"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmsm-soak-") as tmp:
        outcome = run_chains(Path(tmp), args.kills, seed=args.seed, sleep=args.sleep)
    print(f"seed {args.seed}: {outcome.summary()}")
    for problem in outcome.problems:
        print(f"  {problem}")
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    sys.exit(main())
