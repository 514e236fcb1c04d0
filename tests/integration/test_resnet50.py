"""The ResNet50 / ImageNet code path of the MLPerf scripts, on small files made here and
served through file:// URLs: a model with ResNet50's interface (input ``input_tensor:0``,
NCHW 224x224; outputs ``ArgMax:0`` with classes 1..1000 and ``softmax_tensor:0``; the one
``tests/data/mlperf_ref_standins.py`` makes for the MLPerf reference run) and a few JPEGs with
CM's ``val_map.txt``, as a folder and as a checksummed archive."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ..conftest import checker_source, cli, no_checker_reason
from ..data.mlperf_ref_standins import resnet50_files

pytestmark = pytest.mark.slow
CHECKER = checker_source()

REQUEST = "app mlperf inference mlperf-inference-onnx _resnet50"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return resnet50_files(tmp_path)


def digest(path: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def exports(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("CM_"))


def test_resnet50_accuracy_from_file_urls(
    files: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        "run",
        f"{REQUEST} _offline _accuracy",
        f"--env.CM_ML_MODEL_RESNET50_URL={files['model'].as_uri()}",
        f"--env.CM_ML_MODEL_RESNET50_CHECKSUM={digest(files['model'], 'md5')}",
        "--adr.imagenet.tags=_url",
        f"--env.CM_DATASET_IMAGENET_URL={files['archive'].as_uri()}",
        f"--env.CM_DATASET_IMAGENET_SHA256={digest(files['archive'], 'sha256')}",
    )
    assert code == 0, err + capfd.readouterr().err[-3000:]
    folder = Path(exports(out)["CM_MLPERF_OUTPUT_DIR"])
    assert folder.parts[-3:] == ("resnet50", "Offline", "accuracy")
    # preprocessing (crop, mean subtraction, NCHW) and the label offset of one are right
    assert (folder / "accuracy.txt").read_text() == "top-1 accuracy: 100.000% (6/6)\n"


def test_resnet50_performance_from_a_local_folder(
    files: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        "run",
        f"{REQUEST} _singlestream _performance",
        "--min_duration=300",
        f"--env.CM_ML_MODEL_RESNET50_LOCAL_PATH={files['model']}",
        f"--env.CM_ML_MODEL_RESNET50_CHECKSUM={digest(files['model'], 'md5')}",
        f"--env.CM_DATASET_IMAGENET_PATH={files['images']}",
    )
    assert code == 0, err + capfd.readouterr().err[-3000:]
    exported = exports(out)
    assert exported["CM_MLPERF_RESULT_VALID"] == "VALID"
    assert exported["CM_MLPERF_RESULT_METRIC"] == "p90_latency_ms"
    assert float(exported["CM_MLPERF_RESULT_VALUE"]) > 0


def test_a_wrong_model_checksum_names_the_url_and_the_way_out(
    files: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = "0" * 32
    code, _, err = cli(
        "run",
        f"{REQUEST} _offline _accuracy",
        f"--env.CM_ML_MODEL_RESNET50_URL={files['model'].as_uri()}",
        f"--env.CM_ML_MODEL_RESNET50_CHECKSUM={wrong}",
        f"--env.CM_DATASET_IMAGENET_PATH={files['images']}",
    )
    err += capfd.readouterr().err
    assert code == 2
    assert f"{files['model'].as_uri()}: MD5 mismatch: expected {wrong}" in err
    assert "download-file-verified" in err and "--from=PATH" in err


@pytest.mark.skipif(CHECKER is None, reason=no_checker_reason())
def test_the_mlperf_workflow_runs_resnet50_from_its_config(
    files: dict[str, Path], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    import pandas as pd

    repo = Path(__file__).resolve().parents[2]
    work = tmp_path / "wf"
    config = [
        "models=[resnet50]",
        "scenarios=[Offline]",
        "min_duration_ms=300",
        f"inference_source={CHECKER}",
        f"resnet50_model={files['model'].as_uri()}",
        f"resnet50_checksum={digest(files['model'], 'md5')}",
        f"imagenet={files['archive'].as_uri()}",
        f"imagenet_sha256={digest(files['archive'], 'sha256')}",
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repo / "workflows" / "mlperf" / "Snakefile"),
            "-d",
            str(work),
            "-c2",
            "mlperf_all",
            "--config",
            *config,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table = pd.read_csv(work / "results" / "mlperf" / "results.csv")
    assert table["model"].tolist() == ["resnet50", "resnet50"]
    assert table.set_index("mode").loc["accuracy", "accuracy_top1"] == 1.0
    check = (work / "results" / "mlperf" / "submission-check.txt").read_text()
    assert "MLCommons submission checker" in check and "no other errors" in check
