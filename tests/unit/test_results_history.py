"""The results history's pieces: what changed between two runs, run names, the reference
file (its errors, its check, a baseline written and read back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm_snakemake.mlperf.history import HistoryError, differences, load_history, select_run
from cm_snakemake.mlperf.references import (
    ReferenceFileError,
    baseline,
    check,
    load_references,
)


def row(inputs: dict[str, object], facts: dict[str, str] | None = None, **extra: object) -> dict:
    return {"inputs": json.dumps(inputs), "host_facts": json.dumps(facts or {}), **extra}


NODE = {"key": "k1", "files": "f1", "meta": "m1"}


def test_differences_name_versions_scripts_meta_and_host_facts() -> None:
    before = row({"onnxruntime": "1.31.1", "get-dataset-digits": NODE,
                  "app-mlperf-inference-onnx _digits": NODE},
                 {"CM_HOST_CPU_MODEL_NAME": "Old CPU"})  # fmt: skip
    after = row({"onnxruntime": "1.32.0", "get-dataset-digits": {**NODE, "files": "f2"},
                 "app-mlperf-inference-onnx _digits": {**NODE, "key": "k2"}},
                {"CM_HOST_CPU_MODEL_NAME": "New CPU"})  # fmt: skip
    assert differences(before, after) == [
        "get-dataset-digits: script files changed",
        "onnxruntime 1.31.1 → 1.32.0",
        "host facts differ: CPU model (Old CPU → New CPU)",
    ]  # the caller whose key changed with its dependency is not blamed
    only_key = row({"x": {**NODE, "key": "k9"}})
    assert differences(row({"x": NODE}), only_key) == ["x: inputs changed"]
    assert differences(row({"x": NODE}), row({"x": NODE, "y": NODE})) == ["y: added"]
    assert differences(row({"x": NODE}), row({"x": {**NODE, "meta": "m2"}})) == ["x: meta changed"]
    assert differences(row({"x": NODE}), row({"x": NODE})) == []


def test_runs_are_named_by_id_start_end_or_place(tmp_path: Path) -> None:
    import pandas as pd

    history = pd.DataFrame({"run_id": ["20261201T000000-aaaaaa", "20261202T000000-bbbbbb"]})
    assert select_run(history, "latest") == "20261202T000000-bbbbbb"
    assert select_run(history, "previous") == "20261201T000000-aaaaaa"
    assert select_run(history, "aaaaaa") == "20261201T000000-aaaaaa"
    assert select_run(history, "baseline", "20261202T") == "20261202T000000-bbbbbb"
    with pytest.raises(HistoryError, match="more than one run '2026'"):
        select_run(history, "2026")
    with pytest.raises(HistoryError, match="no baseline run"):
        select_run(history, "baseline")
    with pytest.raises(HistoryError, match="empty"):
        select_run(load_history(str(tmp_path / "none")), "latest")


def test_reference_file_errors_name_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "references.yaml"
    with pytest.raises(ReferenceFileError, match="cannot read the reference file"):
        load_references(str(path))
    path.write_text("references:\n  box:\n    m:\n      Offline:\n        top1: [0.9, -0.1]\n")
    with pytest.raises(ReferenceFileError, match=r"references\.box\.m\.Offline\.top1: expected"):
        load_references(str(path))
    path.write_text("references:\n  box:\n    m:\n      Offline:\n        top1: [high, 0, 0]\n")
    with pytest.raises(ReferenceFileError, match="'high' is not a number"):
        load_references(str(path))
    path.write_text("baseline: x\n")
    with pytest.raises(ReferenceFileError, match="no 'references' mapping"):
        load_references(str(path))


CELL = ("box", "m", "bundled", "Offline", "performance", "samples_per_second")
LATENCY = ("box", "m", "bundled", "SingleStream", "performance", "p90_latency_ms")


def test_a_baseline_written_and_read_back_checks_later_results(tmp_path: Path) -> None:
    path = tmp_path / "references.yaml"
    first = {CELL: row({}, value=1000.0), LATENCY: row({}, value=2.0)}
    assert baseline(first, "run-1", str(path), tolerance=0.1) == 2
    refs = load_references(str(path))
    assert refs.baseline_run == "run-1"
    # throughput: 10% lower at most; latency: 10% higher at most; the better side is open
    good = {CELL: row({}, value=5000.0), LATENCY: row({}, value=0.5)}
    assert check(good, refs) == ([], 2)
    worse = {CELL: row({"x": NODE}, value=850.0), LATENCY: row({}, value=2.3)}
    regressions, checked = check(worse, refs, {CELL: row({"x": {**NODE, "files": "f9"}})})
    assert checked == 2
    lines = [r.line() for r in regressions]
    assert lines == [
        "box m Offline samples_per_second: 850 outside 1000 [-10%, open] (changed since the "
        "baseline: x: script files changed)",
        "box m SingleStream p90_latency_ms: 2.3 outside 2 [open, +10%] (changed since the "
        "baseline: no baseline row)",
    ]


def test_an_append_that_fails_midway_leaves_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from cm_snakemake.mlperf.history import HistoryRow, append_rows

    row_ = HistoryRow(run_id="r1", recorded="t", system="box", host_fingerprint="f", model="m",
                      implementation="bundled", backend="b", backend_version="1",
                      scenario="Offline", mode="performance", run_style="test",
                      metric="samples_per_second", value=1.0, valid=True, started=1.0,
                      result_id="k@1", node_key="k", inputs="{}", host_facts="{}",
                      slurm_job_id="")  # fmt: skip
    store = tmp_path / "history"

    def half_written(self: pd.DataFrame, path: str, **_: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("killed")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)
    with pytest.raises(OSError, match="killed"):
        append_rows([row_], str(store))
    assert list(store.iterdir()) == []  # neither the half file nor a run file
    monkeypatch.undo()
    assert append_rows([row_], str(store)) is not None
    assert append_rows([row_], str(store)) is None  # the same run is stored once
    assert len(load_history(str(store))) == 1


def test_a_run_without_a_figure_neither_becomes_a_reference_nor_a_regression(
    tmp_path: Path,
) -> None:
    from cm_snakemake.mlperf.history import HistoryRow, append_rows, latest_rows

    fields = dict(recorded="t", system="box", host_fingerprint="f", model="m",
                  implementation="bundled", backend="b", backend_version="1", scenario="Offline",
                  mode="performance", run_style="test", metric="samples_per_second", valid=None,
                  started=1.0, node_key="k", inputs="{}", host_facts="{}",
                  slurm_job_id="")  # fmt: skip
    store = tmp_path / "history"
    append_rows([HistoryRow(run_id="r1", value=None, result_id="k@1", **fields)], str(store))
    rows = latest_rows(load_history(str(store)))  # the missing value reads back as NaN
    path = tmp_path / "references.yaml"
    assert baseline(rows, "r1", str(path)) == 0
    path.write_text("references:\n  box:\n    m:\n      Offline:\n"
                    "        samples_per_second: [.nan, -0.1, null]\n")  # fmt: skip
    with pytest.raises(ReferenceFileError, match="the value is nan"):
        load_references(str(path))
    path.write_text("references:\n  box:\n    m:\n      Offline:\n"
                    "        samples_per_second: [10, -0.1, null]\n")  # fmt: skip
    assert check(rows, load_references(str(path))) == ([], 0)
