"""The MLPerf pipeline for real: LoadGen and onnxruntime runs of the bundled digits model
through Snakemake, the results table and plots, the submission tree, judged by MLCommons'
own submission checker (v6.1, from the pinned inference source)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cm_snakemake.mlperf.checker import INHERENT

from ..conftest import checker_source, cli, no_checker_reason

SOURCE = checker_source()
pytestmark = [
    pytest.mark.slow,
    # the workflow's submission rule runs the official checker: without it nothing is judged
    pytest.mark.skipif(SOURCE is None, reason=no_checker_reason()),
]

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
HARNESS_JOB = "CM script app-mlperf-inference-onnx: node"
STANDIN = ("scikit-learn digits, validation split: 450 samples (stand-in for ImageNet 2012 "
           "validation, 50,000 images)")  # fmt: skip
# a reduced matrix: two scenarios, both modes, short runs
CONFIG = ["scenarios=[Offline,SingleStream]", "min_duration_ms=300", "min_query_count=32",
          "system_name=testbox", f"inference_source={SOURCE}"]  # fmt: skip


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
    # the dataset is named as the stand-in it is, with its sample count
    assert (table["implementation"] == "bundled").all()
    assert (table["dataset_samples"] == 450).all() and table["dataset_subset"].all()
    assert set(table["dataset"]) == {STANDIN}
    code, out, _ = cli("results", str(pipeline.out))
    assert code == 0 and f"dataset of digits-logreg: {STANDIN}" in out


def test_plots_and_html_summary(pipeline: Pipeline) -> None:
    for name in ("throughput.png", "latency.png"):
        data = (pipeline.out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    html = (pipeline.out / "summary.html").read_text()
    assert "SingleStream" in html and "4 runs, 0 invalid" in html
    assert f"<li>digits-logreg: {STANDIN}</li>" in html


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
    accuracy = (run / "accuracy" / "accuracy.txt").read_text()
    assert accuracy.startswith("accuracy=9") and "top-1 accuracy: 9" in accuracy
    assert "*.Offline.min_duration = 300" in (run / "user.conf").read_text()
    assert f"Dataset: {STANDIN}." in (run / "README.md").read_text()


def harness_runs(pipeline: Pipeline) -> dict[tuple[str, str], Path]:
    """(scenario, mode) -> the folder the harness wrote that run into."""
    out = {}
    results = pipeline.work / ".cmsm" / "results" / "app-mlperf-inference-onnx"
    for result in results.glob("*.json"):
        folder = Path(json.loads(result.read_text())["new_env"]["CM_MLPERF_RESULT_FILE"]).parent
        data = json.loads((folder / "result.json").read_text())
        out[(data["scenario"], data["mode"])] = folder
    return out


def test_the_official_checker_finds_only_the_errors_test_runs_cannot_avoid(
    pipeline: Pipeline,
) -> None:
    text = (pipeline.out / "submission-check.txt").read_text()
    assert "MLCommons submission checker --version v6.1" in text
    assert "no other errors" in text and "\nerrors:" not in text
    log = (pipeline.out / "submission-checker.log").read_text()
    errors = [line.split(" ERROR] ", 1)[1] for line in log.splitlines() if " ERROR] " in line]
    patterns = [pattern for pattern, _ in INHERENT["test"]]
    follow_ups = ("Some ", "NoResults ", "SUMMARY: submission has errors")
    unexpected = [e for e in errors if not e.startswith(follow_ups)
                  and not any(re.search(p, e) for p in patterns)]  # fmt: skip
    assert errors and unexpected == [], unexpected
    # each performance run: too short for MLPerf (1 s test runs) and nothing else
    assert sum("Test duration less than 600s" in e for e in errors) == 2
    assert (pipeline.out / "submission-checker.csv").read_text().startswith("Organization,")
    # the same checker from the command line: a test-style tree is not a valid submission
    root = pipeline.out / "submission"
    code, out, _ = cli("results", f"--check={root}", f"--inference-source={SOURCE}")
    assert code == 1 and "rejected" in out and "Test duration less than 600s" in out
    code, out, _ = cli("results", f"--check={root}", f"--inference-source={SOURCE}",
                       "--run-style=test")  # fmt: skip
    assert code == 0 and "not a valid submission" in out
    # a valid-style judgement that knows the dataset is a stand-in rejects only the durations
    code, out, _ = cli("results", f"--check={root}", f"--inference-source={SOURCE}",
                       "--stand-in-dataset")  # fmt: skip
    assert code == 1 and "rejected: 2 errors" in out, out
    assert "does not cover all dataset" in out.split("inherent", 1)[1]


def test_the_tree_has_the_v6_layout_the_checker_wants(pipeline: Pipeline) -> None:
    tree = pipeline.tree
    assert (tree / "src" / "README.md").read_text().strip()
    assert json.loads((tree / "model_mapping.json").read_text()) == {"digits-logreg": "resnet"}
    system = json.loads((tree / "systems" / "testbox.json").read_text())
    assert system["system_name"] == "testbox" and system["status"] == "available"
    assert system["host_processor_core_count"].isdigit()  # filled from detect-cpu
    assert "onnxruntime" in system["framework"] and "mlcommons-loadgen" in system[
        "other_software_stack"]  # fmt: skip
    for scenario in ("Offline", "SingleStream"):
        cell = tree / "results" / "testbox" / "digits-logreg" / scenario
        measurements = json.loads((cell / "measurements.json").read_text())
        assert all(
            measurements[k]
            for k in (
                "input_data_types",
                "retraining",
                "starting_weights_filename",
                "weight_data_types",
                "weight_transformations",
            )
        )
        readme = (cell / "README.md").read_text()
        assert "snakemake --profile profiles/local mlperf_all --config" in readme
        assert f"_{scenario.lower()} _performance _test" in readme
        log = cell / "accuracy" / "mlperf_log_accuracy.json"
        assert log.stat().st_size <= 10 * 1024  # truncated by truncate_accuracy_log.py
        digest = (cell / "accuracy" / "accuracy.txt").read_text().split("hash=")[1].strip()
        originals = list((pipeline.out / "accuracy-logs-original").rglob(
            f"{scenario}/accuracy/mlperf_log_accuracy.json"))  # fmt: skip
        assert len(originals) == 1
        assert hashlib.sha256(originals[0].read_bytes()).hexdigest() == digest
        assert len(json.loads(originals[0].read_text())) == 450  # every validation sample


def test_the_submitted_user_conf_is_the_performance_runs(pipeline: Pipeline) -> None:
    runs = harness_runs(pipeline)
    for scenario in ("Offline", "SingleStream"):
        cell = pipeline.tree / "results" / "testbox" / "digits-logreg" / scenario
        performance = (runs[(scenario, "performance")] / "user.conf").read_bytes()
        accuracy = (runs[(scenario, "accuracy")] / "user.conf").read_bytes()
        assert (cell / "user.conf").read_bytes() == performance
        if performance != accuracy:  # the targets each run measured for itself differ
            assert (cell / "user.conf").read_bytes() != accuracy


def test_the_checker_rejects_a_broken_tree_with_its_own_messages(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    root = tmp_path / "submission"
    shutil.copytree(pipeline.out / "submission", root)
    tree = root / "open" / "cm-snakemake"
    (tree / "results" / "testbox" / "digits-logreg" / "Offline" / "measurements.json").unlink()
    system_file = tree / "systems" / "testbox.json"
    system = json.loads(system_file.read_text())
    del system["cooling"]
    system_file.write_text(json.dumps(system))
    code, out, _ = cli("results", f"--check={root}", f"--inference-source={SOURCE}",
                       "--run-style=test")  # fmt: skip
    assert code == 1 and "rejected" in out
    assert "measurements json file not found" in out and "field cooling is missing" in out


def test_a_missing_system_field_stops_the_workflow_before_any_job(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    meta = tmp_path / "system_meta.yaml"
    meta.write_text("status: available\nsystem_type: edge\ncooling: ''\n")
    done = pipeline.snakemake("-n", "mlperf_all", config=[*CONFIG, f"system_meta={meta}"])
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "lacks" in text and "cooling" in text and str(meta) in text
    assert HARNESS_JOB not in text


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
    assert "no other errors" in (work / "results" / "mlperf" / "submission-check.txt").read_text()


def test_the_shipped_slurm_profile_packs_short_jobs_and_arrays_the_matrix(
    slurm: None, pipeline: Pipeline, tmp_path: Path
) -> None:
    """The profile `profile init slurm` writes: network scripts on the submit host, detection
    (sent to the compute nodes here) in one group job, the benchmark runs as a job array."""
    profile = tmp_path / "profile"
    code, _, err = cli("profile", "init", "slurm", "--partition=debug", "--jobs=4", "--group=2",
                       f"--out={profile}")  # fmt: skip
    assert code == 0, err
    work = tmp_path / "wf"
    work.mkdir()
    config = [*CONFIG, "system_name=shapebox", "cm_localrules=false"]
    done = snakemake(work, pipeline.env, "mlperf_all", "--profile", str(profile), config=config)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Group job cm-tiny" in log and "group_cm-tiny_cm_detect_cpu_cm_detect_os" in log
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+)", log)
    assert arrays and all(len(a.split(",")) >= 2 for a in arrays), log[-4000:]
    # pip installs ran in the controller, on the submit host: never submitted
    assert "rule_cm_get_python_package" not in log
    pip_runs = list((work / ".cmsm" / "results" / "get-python-package").glob("*.json"))
    assert pip_runs and all(json.loads(r.read_text())["slurm_job_id"] is None for r in pip_runs)
    results = list((work / ".cmsm" / "results" / "app-mlperf-inference-onnx").glob("*.json"))
    assert len(results) == 4
    assert all(json.loads(r.read_text())["slurm_job_id"] for r in results)
    assert "no other errors" in (work / "results" / "mlperf" / "submission-check.txt").read_text()


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
    # the Server target came from the harness's search of short LoadGen runs
    server = json.loads((harness_runs(pipeline)[("Server", "performance")] / "result.json")
                        .read_text())  # fmt: skip
    probes = server["target_search"]["probes"]
    assert any(p["valid"] for p in probes) and any(not p["valid"] for p in probes), probes
    assert {p["bound_ms"] for p in probes} == {15.0}  # ResNet50's bound, LoadGen's mlperf.conf
    assert server["loadgen"]["result_validity"] == "VALID"
    # the search's runs read their settings as plain files: the measured run is still the
    # process's first user.conf, with mlperf.conf applied and no "multiple conf files" error
    detail = harness_runs(pipeline)[("Server", "performance")] / "mlperf_log_detail.txt"
    assert "error_invalid_config" not in detail.read_text()
    target = float(server["user_conf"][0].removeprefix("*.Server.target_qps = "))
    # below the highest rate that met the bound (the margin), and the last probe confirmed it
    assert 0 < target < max(p["target"] for p in probes if p["valid"])
    assert probes[-1]["valid"] and abs(probes[-1]["target"] - target) <= 0.05, (target, probes)
    assert server["qsl"]["load_calls"] >= 1


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
