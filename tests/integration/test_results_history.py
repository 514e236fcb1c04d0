"""The results history of the MLPerf workflow, for real: two runs of the pipeline with a
changed dependency (a registered copy of get-dataset-digits whose prepare.py differs), the
comparison that names it, the reference file that gates the workflow, the history plot in the
HTML summary and in Snakemake's report, exports, and appends from two processes at once."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
DATASET_SCRIPT = REPO / "cm_snakemake" / "repo" / "script" / "get-dataset-digits"
CONFIG = ["scenarios=[Offline]", "min_duration_ms=300", "min_query_count=32",
          "system_name=histbox"]  # fmt: skip


@dataclass
class Work:
    work: Path
    env: dict[str, str]

    @property
    def out(self) -> Path:
        return self.work / "results" / "mlperf"

    def snakemake(
        self, *targets: str, config: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(self.work),
                   "-c2", *targets, "--config", *CONFIG, *config]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, check=False, env=self.env)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Work:
    """mlperf_results twice: with the bundled scripts, then with a registered repository whose
    copy of get-dataset-digits has a changed prepare.py (it is found before the bundled one)."""
    base = tmp_path_factory.mktemp("history")
    env = {**os.environ, "CMSM_HOME": str(base / "home")}
    env.pop("CMSM_CACHE", None)
    work = Work(base / "wf", env)
    work.work.mkdir()
    first = work.snakemake("mlperf_results")
    assert first.returncode == 0, first.stderr[-4000:]
    mine = base / "my-scripts"
    (mine / "script").mkdir(parents=True)
    (mine / "cmr.yaml").write_text("alias: my-scripts\nuid: 0123456789abcdef\ngit: false\n")
    shutil.copytree(DATASET_SCRIPT, mine / "script" / "get-dataset-digits")
    with (mine / "script" / "get-dataset-digits" / "prepare.py").open("a") as fh:
        fh.write("\n# a local change: the same split, another file\n")
    subprocess.run([sys.executable, "-m", "cm_snakemake", "repo", "add", str(mine)], env=env,
                   check=True, capture_output=True)  # fmt: skip
    second = work.snakemake("mlperf_results")
    assert second.returncode == 0, second.stderr[-4000:]
    return work


def results(work: Work, *argv: str) -> tuple[int, str, str]:
    return cli("results", str(work.out), *argv)


def test_each_run_adds_its_rows_to_the_history(two_runs: Work) -> None:
    code, out, _ = results(two_runs, "--history")
    assert code == 0
    runs = out.splitlines()
    assert len(runs) == 2 and all("2 cells  system histbox  test" in r for r in runs), out
    code, out, _ = results(two_runs, "--history", "--format=json")
    rows = json.loads(out)
    assert len(rows) == 4
    row = rows[0]
    assert {row["model"], row["implementation"], row["scenario"]} == {"digits-logreg", "bundled",
                                                                     "Offline"}  # fmt: skip
    inputs = json.loads(row["inputs"])
    assert "get-dataset-digits" in inputs and inputs["onnxruntime"] == row["backend_version"]
    assert json.loads(row["host_facts"])["CM_HOST_CPU_MODEL_NAME"]
    assert len(row["host_fingerprint"]) == 16 and row["node_key"]


def test_compare_names_the_dependency_that_changed(two_runs: Work) -> None:
    code, out, _ = results(two_runs, "--compare=previous,latest")
    assert code == 0, out
    lines = out.splitlines()
    perf = next(i for i, line in enumerate(lines) if "Offline performance" in line)
    assert "B/A" in lines[perf]
    # the dataset script is named, and nothing else is blamed
    assert lines[perf + 1].strip() == "get-dataset-digits: script files changed", out
    assert not lines[perf + 2 :] or not lines[perf + 2].startswith("    "), out
    code, out, err = results(two_runs, "--compare=latest,nosuchrun")
    assert code != 0 and "no run 'nosuchrun'" in out + err


def test_a_tight_reference_fails_the_workflow_and_a_wide_one_passes(
    two_runs: Work, tmp_path: Path
) -> None:
    references = tmp_path / "references.yaml"
    code, out, _ = results(two_runs, "--set-baseline", f"--references={references}")
    assert code == 0 and "2 references" in out, out
    data = references.read_text()
    assert "samples_per_second: [" in data and "top1: [" in data
    # tight: ten times the throughput measured is expected
    tight = tmp_path / "tight.yaml"
    measured = re.search(r"samples_per_second: \[([0-9.e+]+),", data)
    assert measured is not None, data
    ten_times = f"samples_per_second: [{float(measured.group(1)) * 10},"
    tight.write_text(data.replace(measured.group(0), ten_times))
    done = two_runs.snakemake("mlperf_references", config=(f"references={tight}",))
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    line = next(x for x in lines if "samples_per_second:" in x and "outside" in x)
    assert line.startswith("histbox digits-logreg Offline samples_per_second: ")
    assert "[-10%, open]" in line and "changed since the baseline: no input changed" in line
    # wide: the same reference with a band of 99%
    wide = tmp_path / "wide.yaml"
    wide.write_text(tight.read_text().replace("-0.1, null]", "-0.99, null]"))
    done = two_runs.snakemake("mlperf_references", config=(f"references={wide}",))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no regression" in (two_runs.out / "references-check.txt").read_text()
    # a file for another machine matches nothing: that is an error, not a pass
    other = tmp_path / "other.yaml"
    other.write_text(wide.read_text().replace("  histbox:", "  otherbox:"))
    done = two_runs.snakemake("mlperf_references", config=(f"references={other}",))
    assert done.returncode != 0
    assert "no reference for any result of this run (system 'histbox'" in done.stderr


def test_the_html_and_the_report_show_the_history_plot(two_runs: Work, tmp_path: Path) -> None:
    html = (two_runs.out / "summary.html").read_text()
    assert "<img src='history.png'>" in html
    image = (two_runs.out / "history.png").read_bytes()
    assert image.startswith(b"\x89PNG") and len(image) > 10_000
    report = tmp_path / "report.html"
    done = two_runs.snakemake("mlperf_results", "--report", str(report))
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    assert "history.png" in text


def test_exports_of_the_history(two_runs: Work, tmp_path: Path) -> None:
    import pandas as pd

    target = tmp_path / "history.parquet"
    code, _, _ = results(two_runs, "--history", "--format=parquet", f"--out={target}")
    assert code == 0
    assert len(pd.read_parquet(target)) == 4
    code, out, _ = results(two_runs, "--history", "--format=csv")
    assert code == 0 and out.startswith("run_id,recorded,system,")
    code, out, err = results(two_runs, "--format=yaml")
    assert code != 0 and "--format=yaml: unknown" in out + err


APPENDER = """
import sys
from cm_snakemake.mlperf.history import HistoryRow, append_rows
store, who = sys.argv[1], sys.argv[2]
for i in range(20):
    row = HistoryRow(run_id=f"{who}-{i:02d}", recorded="2026-12-02T00:00:00+00:00",
        system="box", host_fingerprint="f", model="m", implementation="bundled", backend="b",
        backend_version="1", scenario="Offline", mode="performance", run_style="test",
        metric="samples_per_second", value=float(i), valid=True, started=float(i),
        result_id=f"{who}-{i}", node_key="k", inputs="{}", host_facts="{}", slurm_job_id="")
    append_rows([row], store)
"""


def test_two_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    from cm_snakemake.mlperf.history import load_history

    store = tmp_path / "history"
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(store), who])
             for who in ("a", "b")]  # fmt: skip
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    rows = load_history(str(store))
    assert sorted(rows["result_id"]) == sorted(f"{w}-{i}" for w in "ab" for i in range(20))
    assert not [p for p in store.iterdir() if p.name.startswith(".tmp-")]
