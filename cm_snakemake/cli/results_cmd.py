"""``results``: print the MLPerf results table; check a submission tree."""

from __future__ import annotations

import os

from ..errors import EXIT_OK, EXIT_USER_ERROR, UsageError
from .options import BOOL, PATH, Command, Flag, Options

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
        "check the submission tree SUBMISSION/<division>/<submitter> instead",
        metavar="TREE",
    )


def _results(options: _ResultsOptions, ctx: Context) -> int:
    if options.check:
        return _check(options.check, ctx)
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


def _check(tree: str, ctx: Context) -> int:
    from ..mlperf.submission import check_submission

    if not os.path.isdir(tree):
        raise UsageError(
            f"no submission tree at {tree}", hint="name the <division>/<submitter> folder"
        )
    problems = check_submission(tree)
    for problem in problems:
        print(problem, file=ctx.out)
    if problems:
        print(f"{tree}: {len(problems)} problems", file=ctx.out)
        return EXIT_USER_ERROR
    print(f"{tree}: passed", file=ctx.out)
    return EXIT_OK


RESULTS = Command(
    "results", _results, _ResultsOptions,
    synopsis="[DIR]",
    about="""Print the MLPerf results table of DIR (default results/mlperf): its results.csv, or
else the harness runs found below DIR. --check validates a submission tree (required files,
VALID performance runs, accuracy above the target, system description) and prints each
problem.""",
)  # fmt: skip
