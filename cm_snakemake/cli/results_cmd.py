"""``results``: print the MLPerf results table; check a submission tree."""

from __future__ import annotations

import glob
import os
import tempfile

from ..errors import EXIT_OK, EXIT_USER_ERROR, UsageError
from .options import BOOL, NUMBER, PATH, TEXT, Command, Flag, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["RESULTS"]

DEFAULT_DIR = os.path.join("results", "mlperf")


class _ResultsOptions(Options):
    csv = Flag(BOOL, False, "print the table as CSV (the same as --format=csv)")
    format = Flag(TEXT, "text", "text, csv, json or parquet (parquet: to --out=FILE)",
                  metavar="FORMAT")  # fmt: skip
    out = Flag(PATH, None, "write the output to FILE instead of printing it", metavar="FILE")
    history = Flag(BOOL, False, "list the runs of the results history (with --format: its "
                   "rows)")  # fmt: skip
    store = Flag(PATH, None, "the results history's folder (default: DIR/history)",
                 metavar="DIR")  # fmt: skip
    compare = Flag(TEXT, "", "compare two runs of the history: A,B (run ids or latest, "
                   "previous, baseline): both values, the ratio and what changed in their "
                   "inputs", metavar="A,B")  # fmt: skip
    set_baseline = Flag(BOOL, False, "write the latest results of the history as the "
                        "reference file (--references)")  # fmt: skip
    tolerance = Flag(NUMBER, 0.1, "with --set-baseline: the band, a fraction of each value on "
                     "its worse side", metavar="FRACTION")  # fmt: skip
    references = Flag(PATH, None, "the reference file that --set-baseline writes and whose "
                      "baseline run --compare=...,baseline means (default: "
                      "DIR/references.yaml)", metavar="FILE")  # fmt: skip
    check = Flag(
        PATH,
        None,
        "judge the submission tree TREE (the folder holding open/ or closed/) with MLCommons' "
        "submission checker instead",
        metavar="TREE",
    )
    inference_source = Flag(
        TEXT,
        "",
        "with --check: the inference source whose checker runs (a folder, or a git "
        "URL[@revision]; default: mlcommons/inference at the revision the workflow uses)",
        metavar="SRC",
    )
    checker_version = Flag(TEXT, "auto", "with --check: the checker's --version; auto: the "
                           "one whose RNG seeds LoadGen logged", metavar="VERSION")  # fmt: skip
    run_style = Flag(TEXT, "valid", "with --check: test accepts the errors test runs cannot "
                     "avoid (600 s duration, stand-in dataset size); valid accepts none",
                     metavar="STYLE")  # fmt: skip
    stand_in_dataset = Flag(BOOL, False, "with --check: the runs used a stand-in for the "
                            "benchmark's dataset or a part of it; accept its size "
                            "errors")  # fmt: skip


def _results(options: _ResultsOptions, ctx: Context) -> int:
    if options.check:
        return _check(options.check, options, ctx)
    if len(options.positional) > 1:
        raise UsageError("results takes at most one folder", hint=RESULTS.usage)
    folder = options.positional[0] if options.positional else DEFAULT_DIR
    form = "csv" if options.csv else options.format
    if form not in FORMATS:
        raise UsageError(f"--format={form}: unknown", hint="use " + ", ".join(FORMATS))
    store = options.store or os.path.join(folder, "history")
    references = options.references or os.path.join(folder, "references.yaml")
    if (options.compare or options.set_baseline) and (form != "text" or options.out):
        raise UsageError("--format and --out export the table or --history, not "
                         "--compare or --set-baseline")  # fmt: skip
    if options.compare:
        return _compare(options.compare, store, references, ctx)
    if options.set_baseline:
        return _set_baseline(references, store, options.tolerance, ctx)
    if options.history:
        from ..mlperf.history import format_runs, load_history

        rows = load_history(store)
        if rows.empty:
            raise UsageError(f"no results history in {store}",
                             hint="run mlperf_all; each run adds its results")  # fmt: skip
        return _emit(rows, form, options.out, ctx, text=format_runs)
    return _emit(_frame(folder), form, options.out, ctx, text=_table)


FORMATS = ("text", "csv", "json", "parquet")


def _emit(frame, form: str, out: str | None, ctx: Context, text) -> int:  # type: ignore[no-untyped-def]
    """The table in its format, printed or written to ``out``."""
    if form == "parquet":
        if not out:
            raise UsageError("--format=parquet writes a file", hint="add --out=FILE")
        frame.to_parquet(out, index=False)
        return EXIT_OK
    body = {"text": lambda: text(frame), "csv": lambda: frame.to_csv(index=False),
            "json": lambda: frame.to_json(orient="records", indent=1, date_format="iso") + "\n",
            }[form]()  # fmt: skip
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(body)
    else:
        print(body, file=ctx.out, end="")
    return EXIT_OK


def _baseline_run(references: str) -> str:
    from ..mlperf.references import load_references

    return load_references(references).baseline_run if os.path.isfile(references) else ""


def _compare(spec: str, store: str, references: str, ctx: Context) -> int:
    from ..mlperf.history import compare, format_comparison, load_history, select_run

    names = [n.strip() for n in spec.split(",")]
    if len(names) != 2 or not all(names):
        raise UsageError(f"--compare={spec}: name two runs, A,B",
                         hint="e.g. --compare=previous,latest")  # fmt: skip
    history = load_history(store)
    baseline = _baseline_run(references) if "baseline" in names else ""
    first, second = (select_run(history, n, baseline) for n in names)
    print(format_comparison(compare(history, first, second), first, second), file=ctx.out, end="")
    return EXIT_OK


def _set_baseline(path: str, store: str, tolerance: float, ctx: Context) -> int:
    from ..mlperf.history import latest_rows, load_history, select_run
    from ..mlperf.references import baseline

    history = load_history(store)
    run = select_run(history, "latest")
    count = baseline(latest_rows(history), run, path, tolerance)
    print(f"{path}: {count} references from the history's latest results (baseline run "
          f"{run}, tolerance {tolerance:g})", file=ctx.out)  # fmt: skip
    return EXIT_OK


def _frame(folder: str):  # type: ignore[no-untyped-def]
    import pandas as pd

    from ..mlperf.runs import find_runs, load_run
    from ..mlperf.table import results_frame

    table = os.path.join(folder, "results.csv")
    if os.path.isfile(table):
        return pd.read_csv(table)
    runs = find_runs(folder) if os.path.isdir(folder) else []
    if not runs:
        hint = (
            "run the pipeline first (snakemake --profile profiles/local mlperf_all), "
            "or name the folder: cm-snakemake results DIR"
        )
        raise UsageError(
            f"no MLPerf results in {folder} (no results.csv, no harness runs)", hint=hint
        )
    return results_frame(load_run(path) for path in runs)


def _table(frame) -> str:  # type: ignore[no-untyped-def]
    from ..mlperf.table import format_table

    return format_table(frame) + "\n"


def _check(tree: str, options: _ResultsOptions, ctx: Context) -> int:
    from .._util.settings import Settings
    from ..mlperf.checker import checker_version, run_checker
    from ..mlperf.inference_source import resolve_source

    if options.run_style not in ("test", "valid"):
        raise UsageError(f"--run-style={options.run_style}", hint="use test or valid")
    details = sorted(
        glob.glob(
            os.path.join(
                tree,
                "*",
                "*",
                "results",
                "*",
                "*",
                "*",
                "performance",
                "run_1",
                "mlperf_log_detail.txt",
            )
        )
    )
    if not os.path.isdir(tree) or not details:
        raise UsageError(
            f"no submission tree at {tree} (no <division>/<submitter>/results/.../"
            "performance/run_1/mlperf_log_detail.txt below it)",
            hint="name the folder that holds open/ or closed/, e.g. results/mlperf/submission",
        )
    source = resolve_source(options.inference_source, Settings().home,
                            what="--inference-source")  # fmt: skip
    version = checker_version(source, details[0], options.checker_version)
    with tempfile.TemporaryDirectory() as scratch:
        report = run_checker(source, tree, run_style=options.run_style, version=version,
                             csv_path=os.path.join(scratch, "summary.csv"),
                             stand_in=options.stand_in_dataset)  # fmt: skip
    print(report.summary(tree), file=ctx.out, end="")
    return EXIT_OK if report.passed else EXIT_USER_ERROR


RESULTS = Command(
    "results", _results, _ResultsOptions,
    synopsis="[DIR]",
    about="""Print the MLPerf results table of DIR (default results/mlperf): its results.csv, or
else the harness runs found below DIR. --history lists the runs of the results history
(DIR/history, which every mlperf_all adds its new runs to); --compare=A,B sets two of them side
by side, with what changed in their inputs; --set-baseline makes the latest results the
reference file that mlperf_all checks (config references); --format exports the table or the
history.
--check runs MLCommons' submission checker (of the inference source) on a submission tree and
prints its verdict and every error.""",
)  # fmt: skip
