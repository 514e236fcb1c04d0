"""The bundled MLPerf scripts are real CM scripts: CM itself (cmind from the package index)
runs them, with its own resolution, cache and script runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import _test_cache

pytestmark = [pytest.mark.slow, pytest.mark.corpus]

BUNDLED = Path(__file__).resolve().parents[2] / "cm_snakemake" / "repo"
CMIND = "cmind==4.2.0"


@pytest.fixture(scope="session")
def cm_command() -> Path:
    """CM's ``cm`` command, from a private venv made once with pip."""
    venv = _test_cache() / "cmind-4.2.0"
    exe = venv / "bin" / "cm"
    if not exe.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CMIND], check=True)
    return exe


def test_cm_runs_the_bundled_mlperf_scripts(cm_command: Path, corpus: Path, tmp_path: Path) -> None:
    # CM's own environment: none of ours, and no PYTHONPATH (CM then finds our package's
    # bundled repository as already registered)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CM_", "CMSM_")) and k != "PYTHONPATH"
    }
    # CM's scripts find Python on PATH: the one with the packages of this environment
    env |= {
        "CM_REPOS": str(tmp_path / "cmhome"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    for name, source in (("cmx4mlops", corpus), ("bundled", BUNDLED)):
        copy = tmp_path / name  # CM writes into the repositories it imports
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(
            [str(cm_command), "import", "repo", f"--path={copy}"],
            env=env,
            check=True,
            capture_output=True,
        )
    work = tmp_path / "cm-work"
    work.mkdir()
    done = subprocess.run(
        [
            str(cm_command),
            "run",
            "script",
            "--tags=app,mlperf,inference,mlperf-inference-onnx,_offline,_accuracy",
            "--quiet",
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    out = work / "mlperf" / "digits-logreg" / "Offline" / "accuracy"
    text = (out / "accuracy.txt").read_text()
    assert text.startswith("top-1 accuracy: 9"), text
    assert (out / "mlperf_log_accuracy.json").stat().st_size > 1000
    # CM cached the dataset and the model in its own cache
    cached = list((tmp_path / "cmhome" / "repos" / "local" / "cache").glob("*/digits-logreg.onnx"))
    assert len(cached) == 1
