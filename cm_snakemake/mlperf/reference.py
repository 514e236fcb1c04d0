"""CM's own MLPerf implementation as cells of the workflow's matrix.

With ``implementation: reference`` each cell is one request to the CM corpus's
``app-mlperf-inference _reference`` script, which runs MLCommons' reference
``vision/classification_and_detection`` harness. The request carries the user's inputs (a
YAML or JSON file: the inference source, the model file, the preprocessed dataset, ...) and,
as env (not as inputs, which would become ``const`` and renew every dependency's cache key),
the mode, the results folder and ``CM_RERUN``. After the run, :func:`record_reference_run`
copies its LoadGen logs into a folder of the workflow's output and writes the same
``result.json`` the bundled harness writes, so both feed one table and one submission tree.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import CMSnakemakeError
from .runs import PRIMARY_METRICS, read_detail_log, read_result

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "REFERENCE_MODELS",
    "ReferenceError",
    "load_reference_inputs",
    "record_reference_run",
    "reference_request",
]

# the workflow's model names -> the reference script's model variation
REFERENCE_MODELS = {"resnet50": "_resnet50"}
LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json",
             "user.conf")  # fmt: skip
INPUT_KEYS = ("adr", "env", "const", "add_deps_recursive", "quiet")
_ACCURACY = re.compile(r"accuracy=([0-9.]+)%, good=(\d+), total=(\d+)")


class ReferenceError(CMSnakemakeError):
    """The reference implementation's inputs or outputs are not usable."""


def load_reference_inputs(path: str) -> dict[str, Any]:
    """The CM inputs added to every reference request, from a YAML or JSON file (``{}`` for
    no file: then the scripts fetch the source, model and dataset themselves)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ReferenceError(
            f"reference_inputs: cannot read {path}: {exc.strerror}",
            hint="give the path of a YAML or JSON file of CM inputs (adr, env, const)",
        ) from exc
    except yaml.YAMLError as exc:
        raise ReferenceError(f"reference_inputs: {path} is not YAML or JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReferenceError(f"reference_inputs: {path} holds no mapping of CM inputs")
    unknown = sorted(set(data) - set(INPUT_KEYS))
    if unknown:
        raise ReferenceError(
            f"reference_inputs: {path}: unknown key(s) {', '.join(unknown)}",
            hint="use " + ", ".join(INPUT_KEYS) + " (the mode and results folder are the "
            "workflow's)",
        )
    return data


def reference_request(
    model: str,
    scenario: str,
    mode: str,
    run_style: str,
    inputs: Mapping[str, Any],
    results_dir: str,
) -> tuple[str, dict[str, Any]]:
    """The CM request of one reference cell, and its inputs."""
    words = ["app mlperf inference", "_reference", REFERENCE_MODELS[model], "_onnxruntime",
             "_cpu", f"_{scenario.lower()}", f"_{run_style}"]  # fmt: skip
    merged = copy.deepcopy(dict(inputs))
    env = dict(merged.get("env") or {})
    env |= {
        "CM_MLPERF_LOADGEN_MODE": mode,
        "OUTPUT_BASE_DIR": os.path.abspath(results_dir),
        "CM_RERUN": "yes",  # else a second run into the folder keeps the first one's logs
    }
    merged["env"] = env
    merged.setdefault("quiet", True)
    return " ".join(words), merged


def _new_env(node_result: str) -> tuple[dict[str, Any], float]:
    data = read_result(node_result, "the reference run's CM result")
    return dict(data.get("new_env") or {}), float(data.get("seconds") or 0)


def _accuracy(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, "accuracy.txt")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            match = _ACCURACY.search(fh.read())
    except OSError as exc:
        raise ReferenceError(
            f"the reference accuracy run wrote no {path}",
            hint="see the run's console.out beside it; rerun with snakemake --forcerun",
        ) from exc
    if match is None:
        raise ReferenceError(f"{path} has no 'accuracy=N%, good=G, total=T' line")
    good, total = int(match.group(2)), int(match.group(3))
    return {"top1": good / total if total else 0.0, "correct": good, "total": total}


def record_reference_run(
    node_result: str,
    out_dir: str,
    *,
    model: str,
    dataset_name: str = "ImageNet 2012 validation",
    full_size: int = 50000,
) -> str:
    """Copy the LoadGen logs of the reference run whose CM result is ``node_result`` into
    ``out_dir`` and write its ``result.json`` there; return that path."""
    env, seconds = _new_env(node_result)
    run_dir = str(env.get("CM_MLPERF_OUTPUT_DIR") or "")
    detail_path = os.path.join(run_dir, "mlperf_log_detail.txt")
    if not run_dir or not os.path.isfile(detail_path):
        raise ReferenceError(
            f"{node_result}: the reference run left no LoadGen detail log "
            f"(CM_MLPERF_OUTPUT_DIR={run_dir!r})",
            hint="rerun the benchmark job (snakemake --forcerun)",
        )
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    for name in LOG_FILES:
        if os.path.isfile(os.path.join(run_dir, name)):
            shutil.copy2(os.path.join(run_dir, name), out_dir)
    detail = read_detail_log(detail_path)
    scenario = str(detail.get("effective_scenario") or env.get("CM_MLPERF_LOADGEN_SCENARIO")
                   or "")  # fmt: skip
    if scenario not in PRIMARY_METRICS:
        raise ReferenceError(
            f"{detail_path}: no known scenario (LoadGen's effective_scenario and "
            f"CM_MLPERF_LOADGEN_SCENARIO of {node_result} give {scenario!r})",
            hint="rerun the benchmark job (snakemake --forcerun)",
        )
    mode = str(env.get("CM_MLPERF_LOADGEN_MODE") or "performance")
    samples = int(detail.get("qsl_reported_total_count") or 0)
    finished = os.path.getmtime(detail_path)
    result: dict[str, Any] = {
        "model": model,
        "implementation": "reference",
        "backend": str(env.get("CM_MLPERF_BACKEND") or "onnxruntime"),
        "device": str(env.get("CM_MLPERF_DEVICE") or "cpu"),
        "scenario": scenario,
        "mode": mode,
        "run_style": str(env.get("CM_MLPERF_RUN_STYLE") or ""),
        "started": finished - seconds,
        "finished": finished,
        "loadgen": detail,
        "dataset": {
            "name": dataset_name,
            "samples": samples,
            "full_size": full_size,
            "subset": samples < full_size,
            "label": f"{dataset_name}: subset of {samples:,} of {full_size:,} samples"
            if samples < full_size
            else f"{dataset_name}: {samples:,} samples",
        },
        "onnxruntime_version": str(env.get("CM_MLPERF_BACKEND_VERSION") or ""),
        "loadgen_version": str(detail.get("loadgen_version") or "").split(" @ ")[0],
        "reference_run_dir": run_dir,
        "node_result": os.path.abspath(node_result),
    }
    if mode == "accuracy":
        result["accuracy"] = _accuracy(run_dir)
        top1 = result["accuracy"]
        with open(os.path.join(out_dir, "accuracy.txt"), "w", encoding="utf-8") as fh:
            fh.write(
                f"top-1 accuracy: {100 * top1['top1']:.3f}% ({top1['correct']}/{top1['total']})\n"
            )
    name, key, scale = PRIMARY_METRICS[scenario]
    result["metric"] = {"name": name, "value": float(detail.get(key) or 0) * scale}
    path = os.path.join(out_dir, "result.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1, default=str)
    return path
