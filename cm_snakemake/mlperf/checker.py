"""MLCommons' submission checker and accuracy-log truncation, run from the inference source.

Nothing here judges a tree: the official ``submission_checker`` of the configured inference
source does (``python -m submission_checker.main`` from its ``tools/submission``), and the
official ``truncate_accuracy_log.py`` truncates the accuracy logs. This module picks the
checker's ``--version``, runs the tools, keeps their output, and sorts the checker's errors:

* errors that the run style makes unavoidable, listed in :data:`INHERENT` (a ``test`` run is
  shorter than MLPerf's 600 s; a stand-in dataset is smaller than the benchmark's): they are
  reported, and the tree is then *not* a valid submission, but they do not fail a test-style
  workflow;
* every other error: the tree is rejected, with the checker's own messages.

The version is the newest one of the checker whose RNG seeds are those LoadGen logged in the
tree's runs (the checker rejects any other seeds), unless one is given.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["INHERENT", "CheckerError", "CheckerReport", "checker_version", "run_checker",
           "truncate_accuracy_logs"]  # fmt: skip

SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
# run style -> (pattern of a checker error, why it cannot be avoided)
INHERENT: dict[str, tuple[tuple[str, str], ...]] = {
    "test": (
        (r"Test duration less than 600s", "run_style test: performance runs are short"),
        (
            r"accur?cy run does not cover all dataset",
            "run_style test: the accuracy run covers the stand-in dataset, not the benchmark's",
        ),
        (
            r"performance_sample_count, found \d+, needs to be >=",
            "run_style test: the stand-in dataset has fewer samples than the benchmark's",
        ),
    ),
    "valid": (),
    # a stand-in dataset (digits for ImageNet) or a subset of the benchmark's, in any run style
    "stand-in": (
        (
            r"accur?cy run does not cover all dataset",
            "stand-in dataset: the accuracy run covers it, not the benchmark's dataset",
        ),
        (
            r"performance_sample_count, found \d+, needs to be >=",
            "stand-in dataset: it has fewer samples than the benchmark's",
        ),
    ),
}
# lines that only repeat an error reported above them
_FOLLOW_UPS = (
    re.compile(r"^Some .* [Cc]hecks failed for"),
    re.compile(r"^NoResults "),
    re.compile(r"^SUMMARY: submission has errors"),
)
_LINE = re.compile(r"^\[[^\]]*\b(ERROR|WARNING)\] (.*)$")
_COUNTS = re.compile(r"Results=(\d+), NoResults=(\d+)")


class CheckerError(CMSnakemakeError):
    """The official checker could not run, or rejected the tree."""


@dataclass(frozen=True)
class CheckerReport:
    """What the official checker said about one tree."""

    version: str
    command: tuple[str, ...]
    returncode: int
    results: int
    no_results: int
    errors: tuple[str, ...]  # every ERROR line's message, in order
    inherent: tuple[tuple[str, str], ...] = field(default=())  # (error, why) accepted
    rejected: tuple[str, ...] = field(default=())  # errors that reject the tree
    output: str = ""

    @property
    def passed(self) -> bool:
        """No error except the listed inherent ones (and their follow-ups)."""
        return not self.rejected

    @property
    def valid_submission(self) -> bool:
        """The checker found no error at all."""
        return self.returncode == 0 and not self.errors

    def summary(self, tree: str) -> str:
        verdict = (
            "accepted: a valid submission"
            if self.valid_submission
            else (
                f"not a valid submission: {len(self.inherent)} errors inherent to this run "
                "style or dataset, no other errors"
                if self.passed
                else f"rejected: {len(self.rejected)} errors"
            )
        )
        lines = [
            f"MLCommons submission checker --version {self.version} on {tree}",
            f"command: {' '.join(self.command)}",
            f"Results={self.results}, NoResults={self.no_results}; {verdict}",
        ]
        if self.rejected:
            lines += ["", "errors:", *(f"  {e}" for e in self.rejected)]
        if self.inherent:
            lines += ["", "errors inherent to the run style or dataset (not accepted as valid):"]
            lines += [f"  {e}  [{why}]" for e, why in self.inherent]
        return "\n".join(lines) + "\n"


def _submission_dir(source: str) -> str:
    return os.path.join(source, "tools", "submission")


def _seed_table(source: str) -> dict[str, dict[str, int]]:
    code = (
        "import json; from submission_checker.constants import MODEL_CONFIG as m; "
        "print(json.dumps({v: c.get('seeds', {}) for v, c in m.items()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_submission_dir(source),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckerError(
            f"the submission checker in {source} does not load: {tail}",
            hint="set inference_source to a checkout of mlcommons/inference with "
            "tools/submission/submission_checker",
        )
    table: dict[str, dict[str, int]] = json.loads(done.stdout)
    return table


def _logged_seeds(detail_log: str) -> dict[str, int]:
    seeds: dict[str, int] = {}
    with open(detail_log, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith(":::MLLOG "):
                continue
            record = json.loads(line[len(":::MLLOG ") :])
            key = str(record.get("key", ""))
            if key.startswith("effective_") and key[len("effective_") :] in SEED_KEYS:
                seeds[key[len("effective_") :]] = int(record["value"])
    return seeds


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def checker_version(source: str, detail_log: str, requested: str = "auto") -> str:
    """``requested``, or for ``auto`` the newest checker version whose seeds are the ones
    LoadGen logged in ``detail_log`` (any run's: every run logs them)."""
    if requested != "auto":
        return requested
    logged = _logged_seeds(detail_log)
    table = _seed_table(source)
    matching = [v for v, seeds in table.items() if all(seeds.get(k) == logged.get(k) for k in
                                                          SEED_KEYS)]  # fmt: skip
    if not matching:
        raise CheckerError(
            f"no version of the checker in {source} knows the RNG seeds in {detail_log} "
            f"({logged}); it knows {', '.join(sorted(table, key=_version_key))}",
            hint="use an inference source as new as the installed LoadGen "
            "(pip show mlcommons-loadgen), or set checker_version",
        )
    return max(matching, key=_version_key)


def _classify(
    errors: Sequence[str], reasons: Sequence[str]
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    allowed = [entry for reason in reasons for entry in INHERENT.get(reason, ())]
    inherent: list[tuple[str, str]] = []
    rejected: list[str] = []
    for error in errors:
        why = next((w for pattern, w in allowed if re.search(pattern, error)), None)
        if why is not None:
            inherent.append((error, why))
        elif not any(p.search(error) for p in _FOLLOW_UPS):
            rejected.append(error)
    return tuple(inherent), tuple(rejected)


def run_checker(
    source: str,
    submission_root: str,
    *,
    run_style: str,
    version: str,
    csv_path: str,
    stand_in: bool = False,
    extra_flags: Sequence[str] = (),
) -> CheckerReport:
    """Run the official checker on ``submission_root`` (the folder holding ``open/`` or
    ``closed/``); its CSV goes to ``csv_path``. ``stand_in``: the runs used a stand-in for the
    benchmark's dataset, or a subset of it (so its size errors are inherent)."""
    command = (
        sys.executable, "-m", "submission_checker.main",
        "--input", os.path.abspath(submission_root),
        "--version", version,
        "--skip_compliance",
        "--csv", os.path.abspath(csv_path),
        *extra_flags,
    )  # fmt: skip
    done = subprocess.run(
        command,
        cwd=_submission_dir(source),
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout + done.stderr
    root = os.path.abspath(submission_root) + os.sep
    errors = tuple(
        m.group(2).replace(root, "")
        for m in map(_LINE.match, output.splitlines())
        if m is not None and m.group(1) == "ERROR"
    )
    counts = _COUNTS.search(output)
    if counts is None:
        tail = output.strip().splitlines()[-5:]
        raise CheckerError(
            f"the submission checker did not finish (exit {done.returncode}):\n" + "\n".join(tail),
            hint=f"run it yourself: cd {_submission_dir(source)} && {' '.join(command[1:])}",
        )
    inherent, rejected = _classify(errors, [run_style, *(["stand-in"] if stand_in else [])])
    if done.returncode != 0 and not errors:
        rejected = (f"the checker exited with status {done.returncode}",)
    return CheckerReport(
        version=version,
        command=("python", *command[1:]),
        returncode=done.returncode,
        results=int(counts.group(1)),
        no_results=int(counts.group(2)),
        errors=errors,
        inherent=inherent,
        rejected=rejected,
        output=output,
    )


def truncate_accuracy_logs(source: str, submission_root: str, submitter: str,
                           backup: str) -> None:  # fmt: skip
    """The official ``truncate_accuracy_log.py``, in place: each accuracy log is cut to its
    first and last 4 KB, its SHA-256 written to ``accuracy.txt``, the original kept below
    ``backup``."""
    script = os.path.join(_submission_dir(source), "truncate_accuracy_log.py")
    if not os.path.isfile(script):
        raise CheckerError(f"no {script}", hint="use a complete tools/submission folder")
    command = [sys.executable, script, "--input", os.path.abspath(submission_root),
               "--submitter", submitter, "--backup", os.path.abspath(backup)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    errors = [x.split(":", 2)[-1] for x in done.stderr.splitlines() if x.startswith("ERROR:")]
    if done.returncode != 0 or errors:
        raise CheckerError(
            "truncate_accuracy_log.py failed: " + ("; ".join(errors) or done.stderr.strip()[-500:]),
            hint=f"run it yourself: {' '.join(command)}",
        )
