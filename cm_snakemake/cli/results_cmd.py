"""``results``: print the MLPerf results table; check a submission tree."""

from __future__ import annotations

import glob
import os
import tempfile

from ..errors import EXIT_OK, EXIT_USER_ERROR, UsageError
from .options import BOOL, PATH, TEXT, Command, Flag, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["RESULTS"]

DEFAULT_DIR = os.path.join("results", "mlperf")


class _ResultsOptions(Options):
    csv = Flag(BOOL, False, "print the table as CSV")
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
    frame = _frame(folder)
    print(frame.to_csv(index=False) if options.csv else _table(frame), file=ctx.out, end="")
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
else the harness runs found below DIR. --check runs MLCommons' submission checker (of the
inference source) on a submission tree and prints its verdict and every error.""",
)  # fmt: skip
