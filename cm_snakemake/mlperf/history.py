"""The results history: every finished benchmark run, kept, compared, explained.

Each run of the MLPerf workflow's table appends its new rows to a store: a folder of Parquet
files, one per append (``run-<run id>.parquet``), written to a temporary name and renamed,
so two workflows finishing at once lose nothing and a killed one leaves no half row. A row
carries what makes runs comparable and explainable: the run id and time, the system and a
fingerprint of its host facts, the cell (model, implementation, scenario, mode), the figure
and its validity, and the run's inputs as the plan knows them (the key, script-file and meta
digests of the benchmark node and of every node below it, and the versions the harness
recorded). :func:`differences` turns two rows' inputs into what changed between them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import pandas as pd

    from .runs import RunRecord

__all__ = [
    "HistoryError",
    "HistoryRow",
    "append_rows",
    "differences",
    "history_rows",
    "load_history",
    "select_run",
]

CELL = ("system", "model", "implementation", "scenario", "mode", "metric")
HOST_FACTS = {  # host fact -> how a difference is named
    "CM_HOST_CPU_MODEL_NAME": "CPU model",
    "CM_HOST_CPU_TOTAL_PHYSICAL_CORES": "CPU cores",
    "CM_HOST_CPU_SOCKETS": "CPU sockets",
    "CM_HOST_MEMORY_CAPACITY": "memory",
    "CM_HOST_OS_FLAVOR": "OS",
    "CM_HOST_OS_VERSION": "OS version",
    "CM_HOST_OS_KERNEL_VERSION": "kernel",
}
VERSIONS = {"onnxruntime_version": "onnxruntime", "loadgen_version": "mlcommons-loadgen",
            "python_version": "Python"}  # fmt: skip


class HistoryError(CMSnakemakeError):
    """The results history cannot be read or written, or a run is not in it."""


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    recorded: str  # ISO time of the append
    system: str
    host_fingerprint: str
    model: str
    implementation: str
    backend: str
    backend_version: str
    scenario: str
    mode: str
    run_style: str
    metric: str
    value: float | None
    valid: bool | None
    started: float
    result_id: str  # the run's node key and start time: one run is stored once
    node_key: str
    inputs: str  # JSON: {input name: {"key", "files", "meta"} or a version string}
    host_facts: str  # JSON: the facts of HOST_FACTS
    slurm_job_id: str


def new_run_id() -> str:
    now = _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _node_label(node: Mapping[str, Any]) -> str:
    variations = [v for v in node.get("variations") or [] if not str(v).startswith("#")]
    return str(node.get("alias")) + "".join(f" _{v}" for v in variations)


def _plan(node_result: str) -> dict[str, Any]:
    """The compiled plan of the node whose result file is ``node_result``
    (``.cmsm/results/<alias>/<key>.json`` -> ``.cmsm/nodes/<key>.json``)."""
    key = os.path.splitext(os.path.basename(node_result))[0]
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(node_result))),
                        "nodes", f"{key}.json")  # fmt: skip
    try:
        with open(path, encoding="utf-8") as fh:
            plan: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        return {}
    return plan


def run_inputs(
    node_result: str, result: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(inputs, host facts) of one benchmark run: from its plan, each node's key and digests
    by label; from its ``result.json``, the versions of the software it ran."""
    plan = _plan(node_result)
    inputs: dict[str, Any] = {}
    for node in plan.get("nodes") or []:
        label = _node_label(node)
        if label in inputs:  # the same script twice: tell them apart by key
            label = f"{label} [{str(node.get('key'))[:8]}]"
        inputs[label] = {"key": str(node.get("key", "")),
                         "files": str(node.get("files_digest", ""))[:16],
                         "meta": str(node.get("meta_digest", ""))[:16]}  # fmt: skip
    for field_name, name in VERSIONS.items():
        if result.get(field_name):
            inputs[name] = str(result[field_name])
    facts: dict[str, str] = {}
    for group in (plan.get("facts") or {}).values():
        if isinstance(group, dict):
            facts.update({k: str(v) for k, v in group.items() if k in HOST_FACTS})
    return inputs, facts


def history_rows(
    records: Sequence[tuple[RunRecord, str]], run_id: str | None = None
) -> list[HistoryRow]:
    """The rows of the runs ``(record, node result file)``, under one run id."""
    run_id = run_id or new_run_id()
    recorded = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    rows = []
    for record, node_result in records:
        with open(os.path.join(record.output_dir, "result.json"), encoding="utf-8") as fh:
            result = json.load(fh)
        inputs, facts = run_inputs(node_result, result)
        node_key = os.path.splitext(os.path.basename(node_result))[0]
        try:
            with open(node_result, encoding="utf-8") as fh:
                slurm = str(json.load(fh).get("slurm_job_id") or "")
        except (OSError, ValueError):
            slurm = ""
        fingerprint = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        rows.append(HistoryRow(
            run_id=run_id, recorded=recorded, system=record.system,
            host_fingerprint=fingerprint[:16], model=record.model,
            implementation=record.implementation, backend=record.backend,
            backend_version=str(result.get("onnxruntime_version") or ""),
            scenario=record.scenario, mode=record.mode, run_style=record.run_style,
            metric=record.metric, value=record.value, valid=record.valid,
            started=record.started, result_id=f"{node_key}@{record.started:.6f}",
            node_key=node_key, inputs=json.dumps(inputs, sort_keys=True),
            host_facts=json.dumps(facts, sort_keys=True), slurm_job_id=slurm,
        ))  # fmt: skip
    return rows


def _frame(rows: Iterable[HistoryRow]) -> pd.DataFrame:
    import pandas as pd

    columns = [f.name for f in fields(HistoryRow)]
    frame = pd.DataFrame([asdict(r) for r in rows], columns=columns)
    frame["value"] = frame["value"].astype("float64")
    frame["valid"] = frame["valid"].astype("boolean")
    return frame


def load_history(store: str) -> pd.DataFrame:
    """Every row of the store, oldest run first (an empty table for no store)."""
    import pandas as pd

    parts = []
    if os.path.isdir(store):
        for name in sorted(os.listdir(store)):
            if name.startswith("run-") and name.endswith(".parquet"):
                path = os.path.join(store, name)
                try:
                    parts.append(pd.read_parquet(path))
                except (OSError, ValueError) as exc:
                    raise HistoryError(
                        f"cannot read the history file {path}: {exc}",
                        hint="move the file away; the other runs stay readable",
                    ) from exc
    if not parts:
        return _frame([])
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["recorded", "run_id"], kind="stable").reset_index(drop=True)


def append_rows(rows: Sequence[HistoryRow], store: str) -> str | None:
    """Add the rows the store does not hold yet (by ``result_id``) as one new file; return its
    path (None when there was nothing new)."""
    try:
        os.makedirs(store, exist_ok=True)
    except OSError as exc:
        raise HistoryError(
            f"cannot create the results history {store}: {exc.strerror}",
            hint="set history to a folder you can write",
        ) from exc
    known = set(load_history(store)["result_id"])
    new = [r for r in rows if r.result_id not in known]
    if not new:
        return None
    path = os.path.join(store, f"run-{new[0].run_id}.parquet")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-run-", suffix=".parquet", dir=store)
    os.close(fd)
    try:
        _frame(new).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def select_run(history: pd.DataFrame, name: str, baseline: str = "") -> str:
    """The run id ``name`` stands for: an id (or its unique start or end), ``latest``,
    ``previous`` or ``baseline`` (the run the reference file was made from)."""
    runs = [str(r) for r in dict.fromkeys(history["run_id"])]
    if not runs:
        raise HistoryError("the results history is empty", hint="run mlperf_all first")
    if name == "latest":
        return runs[-1]
    if name == "previous":
        if len(runs) < 2:
            raise HistoryError("the history holds one run: there is no previous one")
        return runs[-2]
    if name == "baseline":
        if not baseline:
            raise HistoryError(
                "no baseline run is known",
                hint="make one: cm-snakemake results --set-baseline",
            )
        name = baseline
    matching = [r for r in runs if r.startswith(name) or r.endswith(name)]
    if len(matching) != 1:
        shown = ", ".join(runs[-5:])
        raise HistoryError(
            f"{'no' if not matching else 'more than one'} run {name!r} in the history",
            hint=f"the latest runs: {shown} (or latest, previous, baseline)",
        )
    return matching[0]


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two rows' inputs and host facts, one phrase each."""
    a, b = json.loads(before["inputs"] or "{}"), json.loads(after["inputs"] or "{}")
    found: list[str] = []
    keyed: list[str] = []  # nodes whose key alone changed: a consequence, unless nothing else
    for name in sorted(set(a) | set(b)):
        old, new = a.get(name), b.get(name)
        if old == new:
            continue
        if old is None or new is None:
            found.append(f"{name}: {'added' if old is None else 'removed'}")
        elif isinstance(old, str) or isinstance(new, str):
            found.append(f"{name} {old} → {new}")
        elif old.get("files") != new.get("files"):
            found.append(f"{name}: script files changed")
        elif old.get("meta") != new.get("meta"):
            found.append(f"{name}: meta changed")
        else:
            keyed.append(f"{name}: inputs changed")
    found = found or keyed
    fa, fb = json.loads(before["host_facts"] or "{}"), json.loads(after["host_facts"] or "{}")
    facts = [f"{HOST_FACTS[k]} ({fa.get(k)} → {fb.get(k)})" for k in HOST_FACTS
             if fa.get(k) != fb.get(k)]  # fmt: skip
    if facts:
        found.append("host facts differ: " + ", ".join(facts))
    return found


@dataclass(frozen=True)
class Compared:
    """One cell in two runs."""

    cell: tuple[str, ...]  # CELL's values
    before: float | None
    after: float | None
    changes: tuple[str, ...]

    @property
    def ratio(self) -> float | None:
        from .references import missing

        if missing(self.before) or self.before == 0 or missing(self.after):
            return None
        return float(self.after) / float(self.before)  # type: ignore[arg-type]


def _cells(history: pd.DataFrame, run_id: str) -> dict[tuple[str, ...], dict[str, Any]]:
    rows = history[history["run_id"] == run_id]
    return {tuple(str(r[c]) for c in CELL): dict(r) for _, r in rows.iterrows()}


def latest_rows(history: pd.DataFrame) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each cell's newest row (a run appends only the cells it ran)."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for _, row in history.iterrows():
        out[tuple(str(row[c]) for c in CELL)] = dict(row)
    return out


def rows_as_of(history: pd.DataFrame, run_id: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each cell's newest row up to and including run ``run_id`` (none for an unknown run)."""
    where = [i for i, r in enumerate(history["run_id"]) if r == run_id]
    return latest_rows(history.iloc[: where[-1] + 1]) if where else {}


def compare(history: pd.DataFrame, first: str, second: str) -> list[Compared]:
    """The cells of run ``first`` and run ``second`` side by side, with what changed."""
    a, b = _cells(history, first), _cells(history, second)
    out = []
    for cell in sorted(set(a) | set(b)):
        before, after = a.get(cell), b.get(cell)
        changes = (
            differences(before, after) if before and after
            else [f"only in run {'B' if before is None else 'A'}"]
        )  # fmt: skip
        out.append(Compared(
            cell, None if before is None else before["value"],
            None if after is None else after["value"], tuple(changes),
        ))  # fmt: skip
    return out


def _shown(value: float | None) -> str:
    from .references import missing

    return "-" if missing(value) else f"{value:.4g}"


def format_comparison(rows: Sequence[Compared], first: str, second: str) -> str:
    """The comparison as text: one line per cell, then what changed below it."""
    lines = [f"A = {first}", f"B = {second}", ""]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.3f}"
        cell = " ".join(row.cell[1:])  # the system is the same in a table of one machine
        lines.append(f"{cell}: A {_shown(row.before)}  B {_shown(row.after)}  B/A {ratio}")
        lines += [f"    {change}" for change in row.changes]
    return "\n".join(lines) + "\n"


def format_runs(history: pd.DataFrame) -> str:
    """One line per run of the history: id, time, cells, system, style."""
    lines = []
    for run_id, rows in history.groupby("run_id", sort=False):
        first = rows.iloc[0]
        lines.append(f"{run_id}  {first['recorded']}  {len(rows)} cells  system {first['system']}"
                     f"  {', '.join(sorted(set(rows['run_style'])))}")  # fmt: skip
    return "\n".join(lines) + ("\n" if lines else "")
