"""CM's own MLPerf reference ResNet50 run, offline, through cm-snakemake, compared with CM.

``tests/data/cm_mlperf_ref_golden.json`` holds what real CM (``cmind`` 4.2.0) did for
``app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test`` with the local
stand-ins of ``tests/data/mlperf_ref_standins.py`` (a local git repository of mlcommons/inference
v5.0.1, a tiny ONNX model with ResNet50's interface, 64 preprocessed images, a local
``caffe_ilsvrc12.tar.gz``); ``tests/data/make_cm_mlperf_ref_golden.py`` says how it was made.
Here cm-snakemake runs the same request, with the same flags, on a copy of the corpus, with a
private ``CMSM_HOME`` and a fresh virtual environment first on ``PATH`` (as for CM: the corpus
scripts pip-install onnxruntime, opencv, LoadGen, ... into the ``python3`` they find). The run
must succeed, and leave what CM left: LoadGen run with the same settings (from
``mlperf_log_detail.txt``), in the same scenario and mode with the same verdict, and the same
files in the results folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..conftest import DATA
from ..data import mlperf_ref_standins as standins

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

GOLDEN = json.loads((DATA / "cm_mlperf_ref_golden.json").read_text())
TIMEOUT = 1800  # CM took GOLDEN["seconds"] (~3.5 min); pip installs and a LoadGen build


@dataclass
class RefRun:
    request: standins.Request
    done: subprocess.CompletedProcess[str]
    found: dict[str, Any]

    def failure(self) -> str:
        """The first cm-snakemake error line, then the end of the output."""
        lines = self.done.stderr.splitlines()
        first = next((x for x in lines if x.startswith("cm-snakemake error:")), "")
        return f"{first}\n--- standard error (end) ---\n" + "\n".join(lines[-60:])


@pytest.fixture(scope="module")
def ref_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> RefRun:
    source = standins.find_inference_source()
    if source is None:
        tried = ", ".join(str(p) for p in standins.source_candidates())
        pytest.skip(f"no mlcommons/inference v5.0.1 source (tried {tried})")
    root = tmp_path_factory.mktemp("mlperf-ref")
    request = standins.build(root / "standins", source)
    copy = root / "cmx4mlops"  # the scripts write into their own folders (user.conf)
    shutil.copytree(corpus, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "pyvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CM_", "CMSM_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env |= {
        "CMSM_HOME": str(root / "cmsm-home"),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    }
    cmsm = [sys.executable, "-m", "cm_snakemake"]
    subprocess.run([*cmsm, "repo", "add", str(copy)], env=env, check=True, capture_output=True)
    work = root / "work"
    work.mkdir()
    done = subprocess.run(
        [*cmsm, "run", standins.REQUEST, *request.flags()],
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return RefRun(request, done, standins.read_results(request.results_dir))


def test_the_golden_data_is_a_successful_cm_run() -> None:
    assert GOLDEN["returncode"] == 0, GOLDEN["error"]
    assert GOLDEN["request"]["request"] == standins.REQUEST
    assert GOLDEN["summary"]["Result is"] == "VALID"


def test_cm_snakemake_runs_the_reference_request(ref_run: RefRun) -> None:
    assert ref_run.done.returncode == 0, ref_run.failure()


def test_loadgen_ran_with_the_settings_cm_gave_it(ref_run: RefRun) -> None:
    assert ref_run.found["run_dir"] is not None, "no mlperf_log_detail.txt\n" + ref_run.failure()
    sut = ref_run.found["sut_folder"]
    assert standins.normalise_files([ref_run.found["run_dir"]], sut) == [GOLDEN["run_dir"]]
    assert ref_run.found["loadgen_settings"] == GOLDEN["loadgen_settings"]
    version = str(ref_run.found["loadgen_version"]).split(" @ ")[0]
    assert version == str(GOLDEN["versions"]["loadgen"]).split(" @ ")[0]


def test_same_scenario_mode_and_verdict(ref_run: RefRun) -> None:
    summary = ref_run.found.get("summary", {})
    for key in ("Scenario", "Mode", "Result is"):
        assert summary.get(key) == GOLDEN["summary"][key], (key, ref_run.failure())
    assert float(summary["Samples per second"]) > 0
    settings = ref_run.found["loadgen_settings"]
    assert settings["effective_scenario"] == GOLDEN["loadgen_settings"]["effective_scenario"]
    assert settings["effective_test_mode"] == GOLDEN["loadgen_settings"]["effective_test_mode"]


def test_same_files_in_the_results_folder(ref_run: RefRun) -> None:
    files = ref_run.found.get("files_normalised", ref_run.found["files"])
    missing = sorted(set(GOLDEN["files"]) - set(files))
    extra = sorted(set(files) - set(GOLDEN["files"]))
    assert (missing, extra) == ([], []), ref_run.failure()
