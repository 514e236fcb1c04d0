"""The tidy results table (one row per run) and what is made from it: CSV, Parquet, plots and
an HTML summary."""

from __future__ import annotations

import html
import importlib.util
import os
from typing import TYPE_CHECKING

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from .runs import RunRecord

__all__ = ["results_frame", "write_results", "format_table"]

COLUMNS = ["model", "backend", "device", "scenario", "mode", "run_style", "metric", "value",
           "samples_per_second", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
           "accuracy_top1", "valid", "system", "started", "finished", "output_dir"]  # fmt: skip
SCENARIO_ORDER = ["Offline", "Server", "SingleStream", "MultiStream"]


def results_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([r.row() for r in records], columns=COLUMNS)
    frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True)
    frame["finished"] = pd.to_datetime(frame["finished"], unit="s", utc=True)
    frame["valid"] = frame["valid"].astype("boolean")
    order = {s: i for i, s in enumerate(SCENARIO_ORDER)}
    by_scenario = lambda c: c.map(order) if c.name == "scenario" else c  # noqa: E731
    frame = frame.sort_values(["model", "scenario", "mode"], key=by_scenario)
    return frame.reset_index(drop=True)


def write_results(frame: pd.DataFrame, out_dir: str) -> dict[str, str]:
    """Write results.csv, results.parquet, throughput.png, latency.png and summary.html into
    ``out_dir``; return the paths by kind."""
    for module in ("pyarrow", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            message = f"writing the MLPerf results needs {module}, which is not installed"
            raise CMSnakemakeError(message, hint="pip install 'cm-snakemake[mlperf]'")
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        kind: os.path.join(out_dir, name)
        for kind, name in (
            ("csv", "results.csv"),
            ("parquet", "results.parquet"),
            ("throughput", "throughput.png"),
            ("latency", "latency.png"),
            ("html", "summary.html"),
        )
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    _plot_throughput(frame, paths["throughput"])
    _plot_latency(frame, paths["latency"])
    _write_html(frame, paths["html"])
    return paths


def _performance(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["mode"] == "performance"]


def _plot_throughput(frame: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    perf = _performance(frame).dropna(subset=["samples_per_second"])
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{m}\n{s}" for m, s in zip(perf["model"], perf["scenario"], strict=True)]
    ax.bar(labels, perf["samples_per_second"], color="#4c72b0")
    ax.set_ylabel("samples per second")
    ax.set_title("Throughput per scenario")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_latency(frame: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    perf = _performance(frame)
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{m}\n{s}" for m, s in zip(perf["model"], perf["scenario"], strict=True)]
    width = 0.27
    for i, column in enumerate(("latency_p50_ms", "latency_p90_ms", "latency_p99_ms")):
        positions = [x + (i - 1) * width for x in range(len(labels))]
        ax.bar(positions, perf[column].fillna(0), width, label=column.split("_")[1])
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency percentiles")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _write_html(frame: pd.DataFrame, path: str) -> None:
    shown = frame.drop(columns=["output_dir"])
    body = shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")
    runs = len(frame)
    invalid = int((_performance(frame)["valid"] == False).sum())  # noqa: E712 (nullable)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            "<title>MLPerf inference results</title></head><body>\n"
            f"<h1>MLPerf inference results</h1>\n<p>{runs} runs, {invalid} invalid "
            "performance runs.</p>\n"
            f"{body}\n<h2>Throughput</h2><img src='{html.escape('throughput.png')}'>\n"
            "<h2>Latency</h2><img src='latency.png'>\n</body></html>\n"
        )


def format_table(frame: pd.DataFrame) -> str:
    """The table as text for a terminal: the columns a reader compares."""
    shown = frame[
        [
            "model",
            "scenario",
            "mode",
            "run_style",
            "metric",
            "value",
            "latency_p90_ms",
            "accuracy_top1",
            "valid",
        ]
    ]
    return str(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
