"""The tidy results table (one row per run) and what is made from it: CSV, Parquet, plots and
an HTML summary."""

from __future__ import annotations

import html
import importlib.util
import os
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from .runs import RunRecord

__all__ = ["results_frame", "write_results", "format_table"]

COLUMNS = ["model", "implementation", "backend", "device", "scenario", "mode", "run_style",
           "metric", "value", "samples_per_second", "latency_p50_ms", "latency_p90_ms",
           "latency_p99_ms", "accuracy_top1", "valid", "dataset", "dataset_samples",
           "dataset_subset", "system", "started", "finished", "output_dir"]  # fmt: skip
SCENARIO_ORDER = ["Offline", "Server", "SingleStream", "MultiStream"]


def results_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([r.row() for r in records], columns=COLUMNS)
    frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True)
    frame["finished"] = pd.to_datetime(frame["finished"], unit="s", utc=True)
    frame["valid"] = frame["valid"].astype("boolean")
    frame["dataset_samples"] = frame["dataset_samples"].astype("Int64")
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


def _labels(perf: pd.DataFrame) -> list[str]:
    """Model and scenario per bar; the implementation too when it is not the bundled one."""
    return [
        f"{m}{'' if i == 'bundled' else f' ({i})'}\n{s}"
        for m, i, s in zip(perf["model"], perf["implementation"], perf["scenario"], strict=True)
    ]


def _plot_throughput(frame: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    perf = _performance(frame).dropna(subset=["samples_per_second"])
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = _labels(perf)
    ax.bar(labels, perf["samples_per_second"], color="#4c72b0")
    ax.set_ylabel("samples per second")
    ax.set_title("Throughput per scenario")
    _dataset_note(fig, perf)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_latency(frame: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    perf = _performance(frame)
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = _labels(perf)
    width = 0.27
    for i, column in enumerate(("latency_p50_ms", "latency_p90_ms", "latency_p99_ms")):
        positions = [x + (i - 1) * width for x in range(len(labels))]
        ax.bar(positions, perf[column].fillna(0), width, label=column.split("_")[1])
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency percentiles")
    ax.legend()
    _dataset_note(fig, perf)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def datasets(frame: pd.DataFrame) -> list[str]:
    """One line per model: the dataset its runs used, named as a subset or stand-in when it
    is one."""
    if "dataset" not in frame:  # a table written before datasets were named
        return []
    seen = frame.drop_duplicates(subset=["model", "dataset"])
    return [f"{m}: {d}" for m, d in zip(seen["model"], seen["dataset"], strict=True) if d]


def _dataset_note(fig: Any, frame: pd.DataFrame) -> None:
    """The datasets below the plot, then a layout that leaves room for them."""
    lines = datasets(frame)
    if lines:
        fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.03 + 0.035 * len(lines), 1, 1))


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
            "performance runs.</p>\n<p>Datasets:</p><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in datasets(frame))
            + "</ul>\n"
            f"{body}\n<h2>Throughput</h2><img src='{html.escape('throughput.png')}'>\n"
            "<h2>Latency</h2><img src='latency.png'>\n</body></html>\n"
        )


def format_table(frame: pd.DataFrame) -> str:
    """The table as text for a terminal: the columns a reader compares."""
    wanted = ["model", "implementation", "scenario", "mode", "run_style", "metric", "value",
              "latency_p90_ms", "accuracy_top1", "valid"]  # fmt: skip
    shown = frame[[c for c in wanted if c in frame]]  # an older table may lack some
    table = str(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
    return "\n".join([table, "", *(f"dataset of {line}" for line in datasets(frame))])
