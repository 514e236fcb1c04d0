"""Helpers shared by the benchmarks: the corpus, CM in a private venv, timing."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

CACHE = Path(os.environ.get("CMSM_BENCH_CACHE", Path.home() / ".cache" / "cm-snakemake-bench"))
CMIND = "cmind==4.2.0"


def corpus() -> Path:
    """The cmx4mlops 1.0.1 repository (downloaded with pip once, then reused)."""
    root = CACHE / "cmx4mlops-1.0.1" / "cmx4mlops"
    if not (root / "cmr.yaml").is_file():
        wheels = CACHE / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "cmx4mlops==1.0.1",
                "-d",
                str(wheels),
            ],
            check=True,
        )
        with zipfile.ZipFile(next(wheels.glob("cmx4mlops-1.0.1-*.whl"))) as zf:
            zf.extractall(CACHE / "cmx4mlops-1.0.1")
    return root


def cm_executable(given: str | None) -> str:
    """CM's ``cm`` command: the one given, or a private venv with cmind 4.2.0."""
    if given:
        return given
    venv = CACHE / "cmvenv"
    exe = venv / "bin" / "cm"
    if not exe.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CMIND], check=True)
    return str(exe)


def clean_env() -> dict[str, str]:
    """This process's env without PYTHONDONTWRITEBYTECODE: both tools run with bytecode caches."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cm_home(work: Path, root: Path, cm: str) -> dict[str, str]:
    """A private CM home with a copy of the corpus registered; returns CM's env."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("CM_")}
    env |= {"CM_REPOS": str(work / "cmhome"), "CM_CORE_SKIP_INTERNAL_REPOS": "yes"}
    copy = work / "cmx4mlops"  # CM writes into the repository it imports
    if not copy.exists():
        shutil.copytree(root, copy)
    run_quiet([cm, "import", "repo", f"--path={copy}"], env, str(work))
    return env


def run_quiet(cmd: list[str], env: dict[str, str], cwd: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms, min {min(samples) * 1000:7.1f} ms"
