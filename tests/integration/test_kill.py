"""SIGKILL of the Snakemake controller at random points of a CM workflow (installs in the
cache, a benchmark run outside it): the next run finishes, no half-written entry is ever used,
and entries that were complete at a kill are reused, not rebuilt. The stale Snakemake lock of
the killed controller is removed with a message. See ``tests/soak/killrun.py``; the soak
script ``tests/soak/soak_kill.py`` runs many more kill points."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ..soak.killrun import run_chains

pytestmark = pytest.mark.slow

KILLS = 20


def test_twenty_random_controller_kills_lose_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("CMSM_KILL_SEED", random.randrange(2**32)))
    outcome = run_chains(tmp_path, KILLS, seed=seed)
    print(f"seed {seed}: {outcome.summary()}")
    assert not outcome.problems, f"seed {seed} (CMSM_KILL_SEED={seed} repeats it): " + "\n".join(
        outcome.problems
    )
    assert outcome.kills == KILLS
    assert outcome.controller_only and outcome.whole_group  # both kinds of kill happened
    assert outcome.during_install > 0  # some kills hit a cached install while it ran
    assert outcome.entries_kept_across_kills > 0  # complete entries were there to reuse
    assert outcome.recovered_messages > 0  # a stale lock was found and reported
