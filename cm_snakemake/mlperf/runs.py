"""One benchmark run, read from the files the MLPerf harness writes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import CMSnakemakeError

__all__ = ["PRIMARY_METRICS", "RunRecord", "find_runs", "load_run", "read_detail_log",
           "read_result"]  # fmt: skip

LATENCY_KEYS = {"p50": "result_50.00_percentile_latency_ns",
                "p90": "result_90.00_percentile_latency_ns",
                "p99": "result_99.00_percentile_latency_ns"}  # fmt: skip


# the figure MLPerf reports per scenario: (name, LoadGen detail log key, scale to its unit)
PRIMARY_METRICS = {
    "Offline": ("samples_per_second", "result_samples_per_second", 1.0),
    "Server": ("scheduled_samples_per_second", "result_scheduled_samples_per_sec", 1.0),
    "SingleStream": ("p90_latency_ms", "result_90.00_percentile_latency_ns", 1e-6),
    "MultiStream": ("p99_query_latency_ms", "result_99.00_percentile_per_query_latency_ns", 1e-6),
}


def read_detail_log(path: str) -> dict[str, Any]:
    """The ``:::MLLOG`` records of a LoadGen detail log, as key -> value (the last wins)."""
    values: dict[str, Any] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(":::MLLOG "):
                try:
                    record = json.loads(line[len(":::MLLOG ") :])
                except ValueError:
                    continue  # a line cut short by a killed run
                values[str(record.get("key"))] = record.get("value")
    return values


class RunError(CMSnakemakeError):
    """A run's files are missing or unreadable."""


@dataclass(frozen=True)
class RunRecord:
    """One row of the results table."""

    model: str
    implementation: str  # bundled (app-mlperf-inference-onnx) | reference (CM's, MLCommons')
    backend: str
    device: str
    scenario: str
    mode: str  # performance | accuracy
    run_style: str  # test | valid
    metric: str
    value: float | None
    samples_per_second: float | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    accuracy_top1: float | None
    valid: bool | None
    dataset: str  # what the run was judged on, e.g. "ImageNet 2012 validation: subset of ..."
    dataset_samples: int | None
    dataset_subset: bool  # a stand-in for the benchmark's dataset, or a part of it
    system: str
    started: float
    finished: float
    output_dir: str

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: Any) -> float | None:
    return None if value in (None, "") else float(value) * 1e-6


def read_result(path: str, what: str = "the run result") -> dict[str, Any]:
    """A JSON result file of a run (the harness's ``result.json``, a CM node result)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise RunError(
            f"cannot read {what} {path}: {exc}",
            hint="rerun the benchmark job that writes it (snakemake --forcerun)",
        ) from exc
    if not isinstance(data, dict):
        raise RunError(f"{what} {path} holds no JSON object", hint="rerun the benchmark job")
    return data


def load_run(result_json: str, system: str = "") -> RunRecord:
    """The record of the run whose harness wrote ``result_json``."""
    data = read_result(result_json)
    detail = data.get("loadgen", {})
    performance = data.get("mode") == "performance"
    qps = detail.get("result_samples_per_second") or detail.get("result_completed_samples_per_sec")
    if qps is None and detail.get("result_qps_with_loadgen_overhead") is not None:
        qps = detail["result_qps_with_loadgen_overhead"]
    metric = data.get("metric", {})
    return RunRecord(
        model=data["model"],
        implementation=str(data.get("implementation") or "bundled"),
        backend=data.get("backend", ""),
        device=data.get("device", ""),
        scenario=data["scenario"],
        mode=data["mode"],
        run_style=data.get("run_style", ""),
        metric=metric.get("name", "") if performance else "top1",
        value=(metric.get("value") if performance else data.get("accuracy", {}).get("top1")),
        samples_per_second=float(qps) if performance and qps is not None else None,
        latency_p50_ms=_ms(detail.get(LATENCY_KEYS["p50"])) if performance else None,
        latency_p90_ms=_ms(detail.get(LATENCY_KEYS["p90"])) if performance else None,
        latency_p99_ms=_ms(detail.get(LATENCY_KEYS["p99"])) if performance else None,
        accuracy_top1=data.get("accuracy", {}).get("top1"),
        valid=(detail.get("result_validity") == "VALID") if performance else None,
        dataset=str(data.get("dataset", {}).get("label", "")),
        dataset_samples=data.get("dataset", {}).get("samples"),
        dataset_subset=bool(data.get("dataset", {}).get("subset")),
        system=system,
        started=float(data.get("started", 0)),
        finished=float(data.get("finished", 0)),
        output_dir=os.path.dirname(os.path.abspath(result_json)),
    )


def find_runs(root: str) -> list[str]:
    """The ``result.json`` files of the harness below ``root``, sorted."""
    found = []
    for folder, _, files in os.walk(root):
        if "result.json" in files and "mlperf_log_detail.txt" in files:
            found.append(os.path.join(folder, "result.json"))
    return sorted(found)
