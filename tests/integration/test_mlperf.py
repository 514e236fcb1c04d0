"""The MLPerf pipeline for real: LoadGen and onnxruntime runs of the bundled digits model
through Snakemake, the results table and plots, the submission tree and its checker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cm_snakemake.mlperf.submission import check_submission

from ..conftest import cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
HARNESS_JOB = "CM script app-mlperf-inference-onnx: node"
# a reduced matrix: two scenarios, both modes, short runs
CONFIG = ["scenarios=[Offline,SingleStream]", "min_duration_ms=300", "min_query_count=32",
          "system_name=testbox"]  # fmt: skip


@dataclass
class Pipeline:
    work: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]

    @property
    def out(self) -> Path:
        return self.work / "results" / "mlperf"

    @property
    def tree(self) -> Path:
        return self.out / "submission" / "open" / "cm-snakemake"

    def snakemake(
        self, *extra: str, config: list[str] = CONFIG
    ) -> subprocess.CompletedProcess[str]:
        return snakemake(self.work, self.env, *extra, config=config)


def snakemake(
    work: Path, env: dict[str, str], *extra: str, config: list[str] = CONFIG
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(SNAKEFILE),
            "-d",
            str(work),
            "-c2",
            *extra,
            "--config",
            *config,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


# secrets in the environment of the whole pipeline: they must not reach any result or record
SECRETS = {"GH_TOKEN": f"ghp-secret-{os.getpid()}", "HF_TOKEN": f"hf-secret-{os.getpid()}",
           "CM_DB_PASSWORD": f"pw-secret-{os.getpid()}"}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    base = tmp_path_factory.mktemp("mlperf")
    env = {**os.environ, "CMSM_HOME": str(base / "home"), **SECRETS}
    env.pop("CMSM_CACHE", None)
    work = base / "wf"
    work.mkdir()
    first = snakemake(work, env, "mlperf_all")
    assert first.returncode == 0, first.stderr[-4000:]
    yield Pipeline(work, env, first)


def test_mlperf_all_produces_a_table_of_real_runs(pipeline: Pipeline) -> None:
    import pandas as pd

    table = pd.read_csv(pipeline.out / "results.csv")
    assert len(table) == 4
    assert sorted(zip(table["scenario"], table["mode"], strict=True)) == [
        ("Offline", "accuracy"),
        ("Offline", "performance"),
        ("SingleStream", "accuracy"),
        ("SingleStream", "performance"),
    ]
    perf = table[table["mode"] == "performance"].set_index("scenario")
    assert perf["valid"].tolist() == [True, True]
    assert perf.loc["Offline", "metric"] == "samples_per_second"
    assert perf.loc["Offline", "value"] > 1000  # a real run of a tiny model
    assert perf.loc["SingleStream", "metric"] == "p90_latency_ms"
    assert 0 < perf.loc["SingleStream", "value"] < 1000
    assert (table["system"] == "testbox").all()
    # the accuracy LoadGen logged is the accuracy of the trained model on the validation split
    model_entries = list(
        (Path(pipeline.env["CMSM_HOME"]) / "cache" / "get-ml-model-digits").glob(
            "*/cmsm-result.json"
        )
    )
    assert len(model_entries) == 1
    exported = json.loads(model_entries[0].read_text())["new_env"]
    val_accuracy = float(exported["CM_ML_MODEL_VAL_ACCURACY"])
    accuracy = table[table["mode"] == "accuracy"]["accuracy_top1"]
    assert accuracy.round(4).tolist() == [val_accuracy, val_accuracy]
    assert val_accuracy > 0.9
    parquet = pd.read_parquet(pipeline.out / "results.parquet")
    assert parquet["value"].round(6).tolist() == table["value"].round(6).tolist()


def test_plots_and_html_summary(pipeline: Pipeline) -> None:
    for name in ("throughput.png", "latency.png"):
        data = (pipeline.out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    html = (pipeline.out / "summary.html").read_text()
    assert "SingleStream" in html and "4 runs, 0 invalid" in html


def test_snakemakes_report_includes_the_plots_and_summary(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    done = pipeline.snakemake("mlperf_all", "--report", str(report))
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    for name in ("throughput.png", "latency.png", "summary.html"):
        assert name in text


def test_the_run_folders_hold_loadgen_logs(pipeline: Pipeline) -> None:
    run = pipeline.tree / "results" / "testbox" / "digits-logreg" / "Offline"
    summary = (run / "performance" / "run_1" / "mlperf_log_summary.txt").read_text()
    assert "Scenario : Offline" in summary and "Result is : VALID" in summary
    accuracy_log = json.loads((run / "accuracy" / "mlperf_log_accuracy.json").read_text())
    assert len(accuracy_log) == 450  # every validation image once
    assert "top-1 accuracy: 9" in (run / "accuracy" / "accuracy.txt").read_text()
    user_conf = (
        pipeline.tree / "measurements" / "testbox" / "digits-logreg" / "Offline" / "user.conf"
    )
    assert "*.Offline.min_duration = 300" in user_conf.read_text()


def test_the_submission_passes_the_checker(pipeline: Pipeline) -> None:
    assert "passed (4 runs)" in (pipeline.out / "submission-check.txt").read_text()
    assert check_submission(str(pipeline.tree)) == []
    system = json.loads((pipeline.tree / "systems" / "testbox.json").read_text())
    assert system["system_name"] == "testbox"
    assert system["host_processor_core_count"].isdigit()  # filled from detect-cpu
    code, out, _ = cli("results", f"--check={pipeline.tree}")
    assert code == 0 and "passed" in out


def test_the_checker_names_each_problem(pipeline: Pipeline, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(pipeline.tree, tree)
    results = tree / "results" / "testbox" / "digits-logreg"
    (results / "SingleStream" / "accuracy" / "mlperf_log_accuracy.json").unlink()
    summary = results / "Offline" / "performance" / "run_1" / "mlperf_log_summary.txt"
    summary.write_text(summary.read_text().replace("Result is : VALID", "Result is : INVALID"))
    (results / "Offline" / "accuracy" / "accuracy.txt").write_text(
        "top-1 accuracy: 42.000% (1/2)\n"
    )
    system_file = tree / "systems" / "testbox.json"
    system = json.loads(system_file.read_text())
    system["host_memory_capacity"] = ""
    system_file.write_text(json.dumps(system))
    problems = sorted(str(p) for p in check_submission(str(tree)))
    target = "the target 90.000%"
    assert problems == sorted(
        [
            f"{results}/SingleStream/accuracy/mlperf_log_accuracy.json: required file is missing",
            f"{summary}: the performance run is INVALID, not VALID",
            f"{results}/Offline/accuracy/accuracy.txt: top-1 accuracy 42.000% is below {target}",
            f"{system_file}: field 'host_memory_capacity' is missing or empty",
        ]
    )
    code, out, _ = cli("results", f"--check={tree}")
    assert code == 1 and "4 problems" in out


def test_results_command_prints_the_table(pipeline: Pipeline) -> None:
    code, out, err = cli("results", str(pipeline.out))
    assert code == 0, err
    assert "SingleStream" in out and "p90_latency_ms" in out
    code, _, err = cli("results", str(pipeline.work / "nothing-here"))
    assert code == 1 and "no MLPerf results" in err


def test_a_reduced_mlperf_all_runs_on_a_real_slurm_cluster(
    slurm: None, pipeline: Pipeline, tmp_path: Path
) -> None:
    work = tmp_path / "wf"
    work.mkdir()
    config = [*CONFIG, "scenarios=[Offline]", "system_name=slurmbox"]
    profile = str(REPO / "tests" / "slurm" / "profile")
    done = snakemake(work, pipeline.env, "mlperf_all", "--profile", profile, config=config)
    assert done.returncode == 0, done.stderr[-4000:]
    results = list((work / ".cmsm" / "results" / "app-mlperf-inference-onnx").glob("*.json"))
    assert len(results) == 2  # Offline performance and accuracy
    job_ids = {json.loads(r.read_text())["slurm_job_id"] for r in results}
    assert None not in job_ids and len(job_ids) == 2  # each run was its own SLURM job
    listed = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True
    ).stdout
    for job_id in job_ids:
        assert f"{job_id} COMPLETED" in listed
    tree = work / "results" / "mlperf" / "submission" / "open" / "cm-snakemake"
    assert check_submission(str(tree)) == []


def test_a_rerun_runs_nothing_and_a_new_scenario_runs_only_its_runs(pipeline: Pipeline) -> None:
    # last in this module: it widens the matrix the tests above read
    again = pipeline.snakemake("mlperf_all")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    wider = pipeline.snakemake(
        "mlperf_all", config=[*CONFIG, "scenarios=[Offline,SingleStream,Server]"]
    )
    assert wider.returncode == 0, wider.stderr[-3000:]
    log = wider.stdout + wider.stderr
    assert log.count(HARNESS_JOB) == 2  # Server performance and accuracy, nothing else
    assert "cm_get_ml_model_digits" not in log and "cm_get_dataset_digits" not in log


def test_no_secret_reaches_the_results_tables_records_or_logs(pipeline: Pipeline) -> None:
    folders = [pipeline.work, Path(pipeline.env["CMSM_HOME"])]
    leaks = [
        str(path)
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and any(v.encode() in path.read_bytes() for v in SECRETS.values())
    ]
    assert (pipeline.out / "results.csv").is_file() and leaks == []
    assert not any(v in pipeline.first.stdout + pipeline.first.stderr for v in SECRETS.values())
