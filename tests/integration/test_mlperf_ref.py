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

from ..conftest import DATA, checker_source, no_checker_reason
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


@dataclass
class RefSetup:
    root: Path
    copy: Path
    request: standins.Request
    env: dict[str, str]

    def run(self, name: str, *extra: str, request: str = standins.REQUEST,
            results: Path | None = None) -> RefRun:  # fmt: skip
        """Run the request in work folder ``name`` (``--json``), results in ``results``."""
        work = self.root / name
        work.mkdir(exist_ok=True)
        flags = self.request.flags()
        if results is not None:
            flags = [f for f in flags if not f.startswith("--output_dir=")]
            flags.append(f"--output_dir={results}")
        done = subprocess.run(
            [*CMSM, "run", request, *flags, "--json", *extra],
            env=self.env,
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        return RefRun(
            self.request, done, standins.read_results(results or self.request.results_dir)
        )

    def with_home(self, name: str) -> RefSetup:
        """The same corpus copy and virtual environment with a new, empty ``CMSM_HOME``."""
        env = {**self.env, "CMSM_HOME": str(self.root / name)}
        subprocess.run([*CMSM, "repo", "add", str(self.copy)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        return RefSetup(self.root, self.copy, self.request, env)


CMSM = [sys.executable, "-m", "cm_snakemake"]


@pytest.fixture(scope="module")
def ref_setup(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> RefSetup:
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
    subprocess.run([*CMSM, "repo", "add", str(copy)], env=env, check=True, capture_output=True)
    return RefSetup(root, copy, request, env)


@pytest.fixture(scope="module")
def ref_run(ref_setup: RefSetup) -> RefRun:
    return ref_setup.run("work")


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


# -- the same request compiled into Snakemake jobs ----------------------------------------------


@dataclass
class JobsRun:
    first: RefRun
    again: subprocess.CompletedProcess[str]
    scenario: subprocess.CompletedProcess[str]
    entries: dict[str, int]  # cache entries per script after the first run


def _jobs_ran(stderr: str) -> dict[str, int]:
    """The workflow's job counts per rule (its first "Job stats" table: those of nested runs
    come later), without the request's rule."""
    counts = {}
    table = stderr.split("Job stats:", 1)[-1].split("\n\n", 1)[0]
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("cm_") and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    counts.pop("cm_request", None)
    return counts


@pytest.fixture(scope="module")
def jobs_run(ref_setup: RefSetup, ref_run: RefRun) -> JobsRun:
    """With a cache of its own (nothing reused from the one-process run): ``--jobs=2``, the
    same again, then the Offline request changed to SingleStream."""
    setup = ref_setup.with_home("cmsm-home-jobs")
    results = ref_setup.root / "results-jobs"
    first = setup.run("work-jobs", "--jobs=2", results=results)
    entries = _entries(Path(setup.env["CMSM_HOME"]))
    again = setup.run("work-jobs", "--jobs=2", results=results).done
    single = standins.REQUEST.replace("_offline", "_singlestream")
    scenario = setup.run("work-jobs", "--jobs=2", request=single, results=results).done
    return JobsRun(first, again, scenario, entries)


def _entries(home: Path) -> dict[str, int]:
    """Complete cache entries per script alias."""
    counts: dict[str, int] = {}
    for marker in (home / "cache").glob("*/*/cmsm-result.json"):
        alias = marker.parent.parent.name
        counts[alias] = counts.get(alias, 0) + 1
    return counts


def _scalars(env: dict[str, Any]) -> dict[str, Any]:
    """Exported values that are not paths (paths name each run's own folders)."""
    return {k: v for k, v in env.items() if not (isinstance(v, str) and "/" in v)}


def test_jobs_give_the_results_of_one_process_and_of_cm(
    ref_setup: RefSetup, ref_run: RefRun, jobs_run: JobsRun
) -> None:
    run = jobs_run.first
    assert run.done.returncode == 0, run.failure()
    assert "Traceback" not in run.done.stderr
    # the SUT configuration was read after onnxruntime was detected, as in one process and CM
    assert run.found["sut_folder"] == ref_run.found["sut_folder"] == GOLDEN["sut_folder"]
    assert run.found["loadgen_settings"] == GOLDEN["loadgen_settings"]
    assert run.found["files_normalised"] == ref_run.found["files_normalised"]
    for key in ("Scenario", "Mode", "Result is"):
        assert run.found["summary"].get(key) == GOLDEN["summary"][key], key
    # one entry per distinct call, as in one process: the inference source cloned once, the
    # aux tarball extracted once, each detection and install made once
    assert jobs_run.entries == _entries(Path(ref_setup.env["CMSM_HOME"]))
    assert jobs_run.entries["get-git-repo"] == 1 and jobs_run.entries["extract-file"] == 1
    # the root's exports: the same keys as one process, the same values where no path differs
    jobs_env = json.loads(run.done.stdout)["new_env"]
    one_env = json.loads(ref_run.done.stdout)["new_env"]
    assert sorted(jobs_env) == sorted(one_env)
    assert _scalars(jobs_env) == _scalars(one_env)
    golden = _scalars(GOLDEN["new_env"])
    assert {k: _text(v) for k, v in _scalars(jobs_env).items() if k in golden} == {
        k: _text(v) for k, v in golden.items() if k in jobs_env
    }


def _text(value: Any) -> str:
    """A value as text, CM's booleans as the words they came from would read (CM turns YAML's
    ``off`` into False; cm-snakemake keeps the text, docs/architecture.md "YAML scalars")."""
    text = str(value)
    if text.lower() in ("true", "yes", "on"):
        return "true"
    if text.lower() in ("false", "no", "off"):
        return "false"
    return text


def test_a_second_invocation_has_nothing_to_do(jobs_run: JobsRun) -> None:
    assert jobs_run.again.returncode == 0, jobs_run.again.stderr[-3000:]
    assert "Nothing to be done" in jobs_run.again.stderr, jobs_run.again.stderr[-3000:]


def test_changing_the_scenario_reruns_only_the_benchmark_node(jobs_run: JobsRun) -> None:
    """Only app-mlperf-inference's meaning changed. Its job runs the implementation subtree,
    which CM calls in its prehook_deps (after its preprocess), so it is the one job."""
    done = jobs_run.scenario
    assert done.returncode == 0, done.stderr[-3000:]
    assert _jobs_ran(done.stderr) == {"cm_app_mlperf_inference": 1}
    assert json.loads(done.stdout)["new_env"]["CM_MLPERF_LOADGEN_SCENARIO"] == "SingleStream"


# -- the same implementation as cells of the MLPerf workflow -------------------------------------
WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "mlperf" / "Snakefile"


@dataclass
class WorkflowRun:
    work: Path
    done: subprocess.CompletedProcess[str]

    @property
    def out(self) -> Path:
        return self.work / "results" / "mlperf"


@pytest.fixture(scope="module")
def reference_workflow(ref_setup: RefSetup, ref_run: RefRun) -> WorkflowRun:
    """``mlperf_all`` with ``implementation=reference`` for Offline, both modes, with the
    stand-ins as its ``reference_inputs`` file (the cache of the runs above is reused)."""
    source = checker_source()
    if source is None:
        pytest.skip(no_checker_reason())
    work = ref_setup.root / "workflow"
    work.mkdir()
    inputs = {k: v for k, v in ref_setup.request.inputs.items() if k in ("adr", "env", "const")}
    (work / "reference-inputs.json").write_text(json.dumps(inputs, indent=1))
    command = [sys.executable, "-m", "snakemake", "-s", str(WORKFLOW), "-d", str(work), "-c2",
               "mlperf_all", "--config", "implementation=reference", "models=[resnet50]",
               "scenarios=[Offline]", f"reference_inputs={work / 'reference-inputs.json'}",
               "reference_dataset=synthetic stand-in images", "system_name=refbox",
               f"inference_source={source}"]  # fmt: skip
    done = subprocess.run(
        command,
        env=ref_setup.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return WorkflowRun(work, done)


def test_mlperf_all_runs_the_reference_implementation(reference_workflow: WorkflowRun) -> None:
    done = reference_workflow.done
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stderr.count("CM script app-mlperf-inference: node") == 2, done.stderr[-4000:]


def test_reference_runs_appear_in_the_same_table(reference_workflow: WorkflowRun) -> None:
    import pandas as pd

    frame = pd.read_csv(reference_workflow.out / "results.csv")
    rows = {(r.mode, r.implementation, r.model, r.scenario) for r in frame.itertuples()}
    assert rows == {("performance", "reference", "resnet50", "Offline"),
                    ("accuracy", "reference", "resnet50", "Offline")}  # fmt: skip
    perf = frame[frame["mode"] == "performance"].iloc[0]
    assert perf["valid"] and perf["metric"] == "samples_per_second" and perf["value"] > 0
    accuracy = frame[frame["mode"] == "accuracy"].iloc[0]
    # the reference's own accuracy script judged the 10 images of a test run
    record = json.loads((Path(accuracy["output_dir"]) / "result.json").read_text())["accuracy"]
    assert record["total"] == 10 and accuracy["accuracy_top1"] == record["correct"] / 10
    assert "synthetic stand-in images: subset of" in accuracy["dataset"]
    # the LoadGen logs were copied out of CM's results folder beside the record
    run_dir = Path(perf["output_dir"])
    assert (run_dir / "mlperf_log_detail.txt").is_file()
    assert json.loads((run_dir / "result.json").read_text())["implementation"] == "reference"


def test_the_official_checker_judges_the_reference_tree(reference_workflow: WorkflowRun) -> None:
    """LoadGen 5.0 logged the reference runs: the checker judges them as v5.0, and finds
    nothing but what a test run cannot avoid."""
    check = (reference_workflow.out / "submission-check.txt").read_text()
    assert "--version v5.0" in check, check
    assert "no other errors" in check, check
    # v5.0's layout: code/, and measurements/ beside results/
    base = reference_workflow.out / "submission" / "open" / "cm-snakemake"
    assert "`_reference`" in (base / "code" / "README.md").read_text()
    described = base / "measurements" / "refbox" / "resnet50" / "Offline"
    assert sorted(p.name for p in described.iterdir()) == [
        "README.md", "refbox_Offline.json", "user.conf"]  # fmt: skip
