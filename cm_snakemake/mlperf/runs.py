"""One benchmark run, read from the files the MLPerf harness writes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import CMSnakemakeError

__all__ = ["RunRecord", "load_run", "find_runs"]

LATENCY_KEYS = {"p50": "result_50.00_percentile_latency_ns",
                "p90": "result_90.00_percentile_latency_ns",
                "p99": "result_99.00_percentile_latency_ns"}  # fmt: skip


class RunError(CMSnakemakeError):
    """A run's files are missing or unreadable."""


@dataclass(frozen=True)
class RunRecord:
    """One row of the results table."""

    model: str
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
    system: str
    started: float
    finished: float
    output_dir: str

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: Any) -> float | None:
    return None if value in (None, "") else float(value) * 1e-6


def load_run(result_json: str, system: str = "") -> RunRecord:
    """The record of the run whose harness wrote ``result_json``."""
    try:
        with open(result_json, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise RunError(
            f"cannot read the run result {result_json}: {exc}",
            hint="rerun the benchmark job that writes it",
        ) from exc
    detail = data.get("loadgen", {})
    performance = data.get("mode") == "performance"
    qps = detail.get("result_samples_per_second") or detail.get("result_completed_samples_per_sec")
    if qps is None and detail.get("result_qps_with_loadgen_overhead") is not None:
        qps = detail["result_qps_with_loadgen_overhead"]
    metric = data.get("metric", {})
    return RunRecord(
        model=data["model"],
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
        system=system,
        started=float(data.get("started", 0)),
        finished=float(data.get("finished", 0)),
        output_dir=os.path.dirname(result_json),
    )


def find_runs(root: str) -> list[str]:
    """The ``result.json`` files of the harness below ``root``, sorted."""
    found = []
    for folder, _, files in os.walk(root):
        if "result.json" in files and "mlperf_log_detail.txt" in files:
            found.append(os.path.join(folder, "result.json"))
    return sorted(found)
