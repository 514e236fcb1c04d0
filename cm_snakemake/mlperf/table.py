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

    from .references import References
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


def write_results(
    frame: pd.DataFrame,
    out_dir: str,
    history: pd.DataFrame | None = None,
    references: References | None = None,
) -> dict[str, str]:
    """Write results.csv, results.parquet, throughput.png, latency.png, history.png (the
    results history, with the reference bands) and summary.html into ``out_dir``; return the
    paths by kind."""
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
            ("history", "history.png"),
            ("html", "summary.html"),
        )
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    _plot_throughput(frame, paths["throughput"])
    _plot_latency(frame, paths["latency"])
    from .history import load_history

    _plot_history(load_history("") if history is None else history, references,
                  paths["history"])  # fmt: skip
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


UNITS = {"samples_per_second": "samples/s", "scheduled_samples_per_second": "samples/s",
         "p90_latency_ms": "ms", "p99_query_latency_ms": "ms", "top1": "top-1"}  # fmt: skip


def _plot_history(history: pd.DataFrame, references: References | None, path: str) -> None:
    """Per model and scenario, the performance metric of each run in the history, oldest
    first; the reference band; a dotted line where a run's inputs changed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .history import differences

    perf = history[history["mode"] == "performance"]
    cells = list(dict.fromkeys(zip(perf["system"], perf["model"], perf["scenario"], strict=True)))
    order = {s: i for i, s in enumerate(SCENARIO_ORDER)}
    cells.sort(key=lambda c: (c[1], order.get(c[2], 9)))
    columns = min(2, max(1, len(cells)))
    rows = max(1, -(-len(cells) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.2 * rows), squeeze=False)
    if not cells:
        axes[0][0].text(0.5, 0.5, "no runs in the history yet", ha="center", va="center")
        axes[0][0].set_axis_off()
    runs = list(dict.fromkeys(history["run_id"]))
    for ax, (system, model, scenario) in zip(axes.flat, cells, strict=False):
        rows_of = perf[(perf["system"] == system) & (perf["model"] == model)
                       & (perf["scenario"] == scenario)]  # fmt: skip
        metric = str(rows_of["metric"].iloc[-1])
        xs = [runs.index(r) + 1 for r in rows_of["run_id"]]
        ax.plot(xs, rows_of["value"], marker="o", color="#4c72b0", label=metric)
        reference = references.values.get((system, model, scenario, metric)) if references else None
        if reference is not None:
            low, high = reference.band()
            bottom, top = ax.get_ylim()
            ax.axhspan(bottom if low is None else low, top if high is None else high,
                       color="#55a868", alpha=0.2, label="reference band")  # fmt: skip
            ax.axhline(reference.value, color="#55a868", linewidth=1)
        records = rows_of.to_dict("records")
        changed = False
        for x, before, after in zip(xs[1:], records, records[1:], strict=False):
            if differences(before, after):
                ax.axvline(x - 0.5, color="#c44e52", linestyle=":", linewidth=1.5,
                           label=None if changed else "inputs changed")  # fmt: skip
                changed = True
        ax.set_title(f"{model}, {scenario}", fontsize=10)
        ax.set_xlabel("run (oldest first)")
        ax.set_ylabel(f"{metric.replace('_', ' ')} ({UNITS.get(metric, '')})", fontsize=8)
        ax.set_xticks(range(1, len(runs) + 1))
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(cells) :]:
        ax.set_axis_off()
    fig.suptitle("Results history")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def datasets(frame: pd.DataFrame) -> list[str]:
    """One line per model: the dataset its runs used, named as a subset or stand-in when it
    is one."""
    if "dataset" not in frame:  # a table written before datasets were named
        return []
    seen = frame.drop_duplicates(subset=["model", "dataset"])
    return [f"{m}: {d}" for m, d in zip(seen["model"], seen["dataset"], strict=True)
            if isinstance(d, str) and d]  # an empty cell of a CSV reads as NaN  # fmt: skip


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
            "<h2>Latency</h2><img src='latency.png'>\n"
            "<h2>History</h2><p>Every run of the results history, per model and scenario; "
            "the shaded band is the reference's tolerance, a dotted line marks a run whose "
            "inputs changed (cm-snakemake results --compare says which).</p>"
            "<img src='history.png'>\n</body></html>\n"
        )


def format_table(frame: pd.DataFrame) -> str:
    """The table as text for a terminal: the columns a reader compares."""
    wanted = ["model", "implementation", "scenario", "mode", "run_style", "metric", "value",
              "latency_p90_ms", "accuracy_top1", "valid"]  # fmt: skip
    shown = frame[[c for c in wanted if c in frame]]  # an older table may lack some
    table = str(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
    return "\n".join([table, "", *(f"dataset of {line}" for line in datasets(frame))])
