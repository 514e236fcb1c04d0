"""The MLPerf workflow's reference cells (CM's app-mlperf-inference _reference): their
requests, their records, the configuration that chooses them; and how the checker's errors
are sorted for stand-in datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm_snakemake.mlperf import checker
from cm_snakemake.mlperf.pipeline import ConfigError, MLPerfConfig, RunSpec, collect
from cm_snakemake.mlperf.reference import (
    ReferenceError,
    load_reference_inputs,
    record_reference_run,
    reference_request,
)

BASE = {"models": ["resnet50"], "scenarios": ["Offline"], "modes": ["performance"]}


def mlll(key: str, value: object) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value}) + "\n"


def test_reference_is_chosen_by_config_and_knows_only_resnet50(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("adr:\n  inference-src:\n    tags: _repo./src.git\nenv:\n  X: '1'\n")
    config = MLPerfConfig.from_mapping(
        {
            **BASE,
            "implementation": "reference",
            "reference_inputs": str(inputs),
            "output": str(tmp_path / "out"),
        }
    )
    request, given = config.request(RunSpec("resnet50", "Offline", "accuracy"))
    assert request == ("app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test")
    assert given["adr"] == {"inference-src": {"tags": "_repo./src.git"}}
    # the mode and results folder go in as env: as inputs they would be const and renew the
    # cache keys of every dependency
    assert given["env"] == {"X": "1", "CM_MLPERF_LOADGEN_MODE": "accuracy",
                            "OUTPUT_BASE_DIR": str(tmp_path / "out" / "reference-runs"),
                            "CM_RERUN": "yes"}  # fmt: skip
    assert "mode" not in given and "output_dir" not in given
    readme = config.readme("resnet50", "Offline")
    assert "implementation=reference" in readme
    assert "--adr.inference-src.tags=_repo./src.git" in readme
    with pytest.raises(ConfigError, match="reference has no model digits-logreg"):
        MLPerfConfig.from_mapping({**BASE, "models": ["digits-logreg"],
                                   "implementation": "reference"})  # fmt: skip
    with pytest.raises(ConfigError, match="implementation: 'nvidia'"):
        MLPerfConfig.from_mapping({**BASE, "implementation": "nvidia"})


def test_reference_inputs_errors_name_the_file(tmp_path: Path) -> None:
    assert load_reference_inputs("") == {}
    with pytest.raises(ReferenceError, match=r"cannot read .*missing\.yaml"):
        load_reference_inputs(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("adr: [unclosed\n")
    with pytest.raises(ReferenceError, match=r"bad\.yaml is not YAML or JSON"):
        load_reference_inputs(str(bad))
    odd = tmp_path / "odd.yaml"
    odd.write_text("mode: accuracy\n")
    with pytest.raises(ReferenceError, match="unknown key") as caught:
        load_reference_inputs(str(odd))
    assert "odd.yaml" in caught.value.render()
    # the caller's inputs are not changed by the request made from them
    given = {"env": {"A": "1"}}
    reference_request("resnet50", "Server", "performance", "test", given, str(tmp_path))
    assert given == {"env": {"A": "1"}}


def reference_run(tmp_path: Path, mode: str, accuracy_line: str = "") -> Path:
    """A reference run's folder and CM node result, as app-mlperf-inference leaves them."""
    run = tmp_path / "cm-results" / mode
    run.mkdir(parents=True)
    (run / "mlperf_log_detail.txt").write_text(
        mlll("effective_scenario", "Offline")
        + mlll("result_validity", "VALID")
        + mlll("result_samples_per_second", 1234.5)
        + mlll("qsl_reported_total_count", 64)
        + mlll("loadgen_version", "5.0.13 @ 7de7df190b")
    )
    (run / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
    (run / "user.conf").write_text("*.Offline.target_qps = 100\n")
    if accuracy_line:
        (run / "accuracy.txt").write_text(accuracy_line)
    node = tmp_path / f"node-{mode}.json"
    node.write_text(json.dumps({"seconds": 4.0, "new_env": {
        "CM_MLPERF_OUTPUT_DIR": str(run), "CM_MLPERF_LOADGEN_MODE": mode,
        "CM_MLPERF_RUN_STYLE": "test", "CM_MLPERF_BACKEND_VERSION": "1.32.0"}}))  # fmt: skip
    return node


def test_a_reference_run_becomes_a_record_of_the_table(tmp_path: Path) -> None:
    perf = record_reference_run(reference_run(tmp_path, "performance"),
                                str(tmp_path / "out" / "perf"), model="resnet50")  # fmt: skip
    accuracy = record_reference_run(
        reference_run(tmp_path, "accuracy", "accuracy=75.000%, good=48, total=64\n"),
        str(tmp_path / "out" / "acc"), model="resnet50", dataset_name="stand-ins",
    )  # fmt: skip
    first, second = collect([perf, accuracy], "box")
    assert (first.implementation, first.mode, first.metric, first.value, first.valid) == (
        "reference", "performance", "samples_per_second", 1234.5, True)  # fmt: skip
    assert (second.mode, second.accuracy_top1) == ("accuracy", 0.75)
    assert second.dataset == "stand-ins: subset of 64 of 50,000 samples"
    assert second.dataset_subset
    # the logs are copied beside the record, the accuracy line in the bundled harness's form
    assert sorted(p.name for p in Path(second.output_dir).iterdir()) == [
        "accuracy.txt", "mlperf_log_detail.txt", "mlperf_log_summary.txt", "result.json",
        "user.conf"]  # fmt: skip
    assert (
        (Path(second.output_dir) / "accuracy.txt")
        .read_text()
        .startswith("top-1 accuracy: 75.000% (48/64)")
    )
    record = json.loads(Path(perf).read_text())
    assert (record["loadgen_version"], record["onnxruntime_version"]) == ("5.0.13", "1.32.0")


def test_a_reference_run_without_its_files_is_a_clear_error(tmp_path: Path) -> None:
    node = reference_run(tmp_path, "accuracy")  # no accuracy.txt
    with pytest.raises(ReferenceError, match=r"wrote no .*accuracy\.txt"):
        record_reference_run(node, str(tmp_path / "out"), model="resnet50")
    node.write_text(json.dumps({"new_env": {"CM_MLPERF_OUTPUT_DIR": str(tmp_path / "gone")}}))
    with pytest.raises(ReferenceError, match="left no LoadGen detail log"):
        record_reference_run(node, str(tmp_path / "out"), model="resnet50")


def test_dataset_size_errors_are_inherent_only_for_a_stand_in_dataset() -> None:
    errors = ["x/accuracy/mlperf_log_detail.txt accurcy run does not cover all dataset, "
              "accuracy samples: 450, dataset size: 50000",
              "x/performance/run_1/mlperf_log_detail.txt Test duration less than 600s in user "
              "config. expected=600000, found=1000"]  # fmt: skip
    inherent, rejected = checker._classify(errors, ["valid"])
    assert (inherent, rejected) == ((), tuple(errors))
    inherent, rejected = checker._classify(errors, ["valid", "stand-in"])
    assert [e for e, _ in inherent] == errors[:1] and rejected == (errors[1],)
    inherent, rejected = checker._classify(errors, ["test"])
    assert [e for e, _ in inherent] == errors and rejected == ()


def test_valid_runs_take_mlperfs_durations_and_test_runs_the_configured_ones() -> None:
    base = {**BASE, "models": ["digits-logreg"], "min_duration_ms": 300, "min_query_count": 32,
            "max_batchsize": 1}  # fmt: skip
    run = RunSpec("digits-logreg", "Offline", "performance")
    _, test_inputs = MLPerfConfig.from_mapping(base).request(run)
    assert test_inputs == {"min_duration": "300", "min_query_count": "32", "max_batchsize": "1"}
    valid = MLPerfConfig.from_mapping({**base, "run_style": "valid"})
    request, valid_inputs = valid.request(run)
    assert request.endswith("_offline _performance _valid")
    assert valid_inputs == {"max_batchsize": "1"}  # LoadGen's mlperf.conf sets the rest
    readme = valid.readme("digits-logreg", "Offline")
    assert "run_style=valid max_batchsize=1\n" in readme and "min_duration" not in readme
