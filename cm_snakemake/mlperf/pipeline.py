"""The MLPerf workflow's configuration and steps, used by ``workflows/mlperf/Snakefile``.

The configuration (``workflows/mlperf/config.yaml``, overridable with Snakemake's
``--config`` or ``--configfile``) names a matrix of models x scenarios x modes; each cell is
one CM request: to the bundled ``app-mlperf-inference-onnx`` script, or with
``implementation: reference`` to the CM corpus's ``app-mlperf-inference _reference``
(:mod:`.reference`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError
from .runs import RunRecord, load_run

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from .checker import CheckerReport

__all__ = [
    "ConfigError",
    "MLPerfConfig",
    "RegressionsFound",
    "RunSpec",
    "SubmissionRejected",
    "collect",
    "make_results",
    "make_submission",
]

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
MODES = ("performance", "accuracy")
MODELS = {"digits-logreg": ("digits", "logreg"), "digits-mlp": ("digits", "mlp"),
          "resnet50": ("resnet50", "")}  # fmt: skip
_URL = ("http://", "https://", "file://")
IMPLEMENTATIONS = ("bundled", "reference")


class ConfigError(CMSnakemakeError):
    """The MLPerf workflow's configuration has a bad value."""


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix."""

    model: str
    scenario: str
    mode: str

    @property
    def name(self) -> str:
        return f"{self.model}-{self.scenario}-{self.mode}"


@dataclass(frozen=True)
class MLPerfConfig:
    models: tuple[str, ...]
    scenarios: tuple[str, ...]
    modes: tuple[str, ...]
    run_style: str
    min_duration_ms: int | None
    min_query_count: int | None
    division: str
    submitter: str
    system_name: str
    output: str
    resnet50_model: str = ""  # URL or local path; default: MLPerf's public URL
    resnet50_checksum: str = ""  # MD5, as CM's scripts give it
    imagenet: str = ""  # folder of validation JPEGs with val_map.txt, or an archive's URL
    imagenet_sha256: str = ""
    inference_source: str = ""  # MLCommons' inference source: a folder or git URL[@rev]
    checker_version: str = "auto"  # the checker's --version; auto: from LoadGen's seeds
    system_meta: str = ""  # YAML/JSON file of system-description fields
    implementation: str = "bundled"  # bundled | reference (CM's app-mlperf-inference)
    reference_inputs: str = ""  # YAML/JSON file of CM inputs for the reference requests
    reference_dataset: str = "ImageNet 2012 validation"  # what its dataset is, for the table
    max_batchsize: int | None = None  # the bundled harness's batches (default 256)
    history: str = ""  # the results history's folder; default: <output>/history
    references: str = ""  # reference values with tolerances (YAML) that gate mlperf_all

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], source: str = "config") -> MLPerfConfig:
        def names(key: str, allowed: Iterable[str]) -> tuple[str, ...]:
            raw = config.get(key)
            values = [raw] if isinstance(raw, str) else list(raw or [])
            known = {a.lower(): a for a in allowed}
            out = []
            for value in values:
                if str(value).lower() not in known:
                    raise ConfigError(
                        f"{source}: {key}: unknown value {value!r}",
                        hint="choose from " + ", ".join(allowed),
                    )
                out.append(known[str(value).lower()])
            if not out:
                raise ConfigError(f"{source}: {key} is empty", hint="name at least one")
            return tuple(out)

        style = str(config.get("run_style", "test")).lower()
        if style not in ("test", "valid"):
            raise ConfigError(f"{source}: run_style: {style!r}", hint="use test or valid")

        def number(key: str) -> int | None:
            value = config.get(key)
            if value in (None, ""):
                return None
            try:
                return int(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: {key}: {value!r} is not a whole number") from exc

        implementation = str(config.get("implementation") or "bundled").lower()
        if implementation not in IMPLEMENTATIONS:
            raise ConfigError(
                f"{source}: implementation: {implementation!r}",
                hint="use " + " or ".join(IMPLEMENTATIONS),
            )
        models = names("models", MODELS)
        if implementation == "reference":
            from .reference import REFERENCE_MODELS

            other = [m for m in models if m not in REFERENCE_MODELS]
            if other:
                raise ConfigError(
                    f"{source}: implementation: reference has no model {', '.join(other)}",
                    hint="with the reference implementation use models: "
                    + ", ".join(REFERENCE_MODELS),
                )
        return cls(
            models=models,
            scenarios=names("scenarios", SCENARIOS),
            modes=names("modes", MODES),
            run_style=style,
            min_duration_ms=number("min_duration_ms"),
            min_query_count=number("min_query_count"),
            division=str(config.get("division", "open")),
            submitter=str(config.get("submitter", "cm-snakemake")),
            system_name=str(config.get("system_name") or platform.node() or "system"),
            output=str(config.get("output", "results/mlperf")),
            resnet50_model=str(config.get("resnet50_model") or ""),
            resnet50_checksum=str(config.get("resnet50_checksum") or ""),
            imagenet=str(config.get("imagenet") or ""),
            imagenet_sha256=str(config.get("imagenet_sha256") or ""),
            inference_source=str(config.get("inference_source") or ""),
            checker_version=str(config.get("checker_version") or "auto"),
            system_meta=str(config.get("system_meta") or ""),
            implementation=implementation,
            reference_inputs=str(config.get("reference_inputs") or ""),
            reference_dataset=str(config.get("reference_dataset") or "ImageNet 2012 validation"),
            max_batchsize=number("max_batchsize"),
            history=str(config.get("history") or ""),
            references=str(config.get("references") or ""),
        )

    def readme(self, model: str, scenario: str, dataset: str = "") -> str:
        """How the cell ``model`` x ``scenario`` was produced: the workflow command, the CM
        requests of its runs and the dataset they used."""
        config = (
            f"models=[{','.join(self.models)}] scenarios=[{','.join(self.scenarios)}] "
            f"modes=[{','.join(self.modes)}] run_style={self.run_style}"
            + (f" implementation={self.implementation}" if self.implementation != "bundled" else "")
            + (f" reference_inputs={self.reference_inputs}" if self.reference_inputs else "")
            + "".join(
                f" {key}={value}"
                for key, value in (
                    ("min_duration_ms", self.min_duration_ms),
                    ("min_query_count", self.min_query_count),
                    ("max_batchsize", self.max_batchsize),
                )
                # the reference has CM's sizes, a valid run MLPerf's
                if value
                and self.implementation == "bundled"
                and (key == "max_batchsize" or self.run_style == "test")
            )
        )
        lines = [
            f"# {model}, {scenario}",
            "",
            "Produced with cm-snakemake's MLPerf workflow, from the repository root:",
            "",
            "```bash",
            f"snakemake --profile profiles/local mlperf_all --config {config}",
            "```",
            "",
            "which runs these CM requests (`cm-snakemake run` takes them as they are):",
            "",
        ]
        for run in self.runs():
            if run.model == model and run.scenario == scenario:
                request, inputs = self.request(run)
                flags = "".join(f" {flag}" for flag in _flags(inputs))
                lines.append(f'- {run.mode}: `cm-snakemake run "{request}"{flags}`')
        if dataset:
            lines += ["", f"Dataset: {dataset}."]
        return "\n".join(lines) + "\n"

    @cached_property
    def _reference_inputs(self) -> dict[str, Any]:
        """The reference_inputs file, read once (every cell's request takes it)."""
        from .reference import load_reference_inputs

        return load_reference_inputs(self.reference_inputs)

    @property
    def history_store(self) -> str:
        return self.history or os.path.join(self.output, "history")

    def runs(self) -> list[RunSpec]:
        return [
            RunSpec(m, s, mode) for m in self.models for s in self.scenarios for mode in self.modes
        ]

    def request(self, run: RunSpec) -> tuple[str, dict[str, Any]]:
        """The CM request of one run, and its inputs."""
        if self.implementation == "reference":
            from .reference import reference_request

            return reference_request(
                run.model,
                run.scenario,
                run.mode,
                self.run_style,
                self._reference_inputs,
                os.path.join(self.output, "reference-runs"),
            )
        family, kind = MODELS[run.model]
        words = [
            "app mlperf inference mlperf-inference-onnx",
            f"_{family}",
            *([f"_{kind}"] if kind else []),
            f"_{run.scenario.lower()}",
            f"_{run.mode}",
            f"_{self.run_style}",
        ]
        inputs: dict[str, Any] = {}
        if family == "resnet50":
            inputs.update(resnet50_inputs(self))
        if self.run_style == "test":  # a valid run takes MLPerf's, from LoadGen's mlperf.conf
            if self.min_duration_ms is not None:
                inputs["min_duration"] = str(self.min_duration_ms)
            if self.min_query_count is not None:
                inputs["min_query_count"] = str(self.min_query_count)
        if self.max_batchsize is not None:
            inputs["max_batchsize"] = str(self.max_batchsize)
        return " ".join(words), inputs


def _flags(inputs: Mapping[str, Any], prefix: str = "") -> list[str]:
    """CM's command-line flags for the inputs: ``--adr.NAME.tags=...``, ``--env.KEY=...``."""
    flags = []
    for key, value in inputs.items():
        if isinstance(value, dict):
            flags += _flags(value, f"{prefix}{key}.")
        elif value is True:
            flags.append(f"--{prefix}{key}")
        elif isinstance(value, str | int | float) and value is not False:
            flags.append(f"--{prefix}{key}={value}")
    return flags


def resnet50_inputs(self: MLPerfConfig) -> dict[str, Any]:
    """Env and dependency tags that point the ResNet50 scripts at the configured files."""
    env: dict[str, str] = {}
    adr: dict[str, Any] = {}
    model = self.resnet50_model
    if model:
        key = (
            "CM_ML_MODEL_RESNET50_URL"
            if model.startswith(_URL)
            else ("CM_ML_MODEL_RESNET50_LOCAL_PATH")
        )
        env[key] = model if key.endswith("URL") else os.path.abspath(model)
    if self.resnet50_checksum:
        env["CM_ML_MODEL_RESNET50_CHECKSUM"] = self.resnet50_checksum
    if not self.imagenet:
        raise ConfigError(
            "the resnet50 model needs the ImageNet validation images",
            hint="set imagenet: a folder of JPEGs with val_map.txt, or the URL "
            "of an archive of it (with imagenet_sha256)",
        )
    if self.imagenet.startswith(_URL):
        env["CM_DATASET_IMAGENET_URL"] = self.imagenet
        if self.imagenet_sha256:
            env["CM_DATASET_IMAGENET_SHA256"] = self.imagenet_sha256
        adr["imagenet"] = {"tags": "_url"}
    else:
        env["CM_DATASET_IMAGENET_PATH"] = os.path.abspath(self.imagenet)
    return {"env": env, **({"adr": adr} if adr else {})}


def _harness_result(node_result: str) -> str:
    """The harness's ``result.json`` of a run: the path itself when it is one (a reference
    run's record), else the one the node result of the bundled harness names."""
    if os.path.basename(node_result) == "result.json":
        return node_result
    with open(node_result, encoding="utf-8") as fh:
        env = json.load(fh).get("new_env", {})
    path = env.get("CM_MLPERF_RESULT_FILE")
    if not path:
        raise CMSnakemakeError(
            f"{node_result} names no CM_MLPERF_RESULT_FILE",
            hint="rerun the benchmark job (snakemake --forcerun)",
        )
    return str(path)


def collect(node_results: Iterable[str], system: str) -> list[RunRecord]:
    """The records of the runs whose CM results (node result files) or ``result.json`` files
    are given."""
    return [load_run(_harness_result(path), system) for path in node_results]


def _node_result(path: str) -> str:
    """The CM node result of a run given as a node result or as a reference run's record."""
    if os.path.basename(path) != "result.json":
        return path
    with open(path, encoding="utf-8") as fh:
        return str(json.load(fh).get("node_result") or path)


def make_results(
    node_results: Iterable[str],
    system: str,
    out_dir: str,
    history: str = "",
    references: str = "",
) -> dict[str, str]:
    """The table, its plots and HTML in ``out_dir``; the new runs appended to the results
    history ``history`` (default ``out_dir/history``), whose plot goes beside them, with the
    bands of the reference file ``references`` when one is given."""
    from .history import append_rows, history_rows, load_history
    from .references import load_references
    from .table import results_frame, write_results

    paths = list(node_results)
    records = collect(paths, system)
    store = history or os.path.join(out_dir, "history")
    refs = load_references(references) if references and os.path.isfile(references) else None
    append_rows(history_rows([(r, _node_result(p)) for r, p in zip(records, paths, strict=True)]),
                store)  # fmt: skip
    return write_results(results_frame(records), out_dir, load_history(store), refs)


def make_submission(
    node_results: Iterable[str],
    facts: Mapping[str, Any],
    config: MLPerfConfig,
    out_dir: str,
    home: str | None = None,
    extra_flags: Sequence[str] = (),
) -> CheckerReport:
    """Build the submission tree below ``out_dir/submission``, truncate its accuracy logs and
    run MLCommons' checker on it; its summary goes to ``out_dir/submission-check.txt`` and its
    CSV to ``out_dir/submission-checker.csv``. Raises :class:`SubmissionRejected` when the
    checker finds an error that the run style does not make inherent."""
    from .._util.settings import Settings
    from .checker import checker_version, run_checker, truncate_accuracy_logs
    from .inference_source import resolve_source
    from .submission import build_submission
    from .system import load_system_meta, system_description

    records = collect(node_results, config.system_name)
    system = system_description(
        facts,
        load_system_meta(config.system_meta),
        division=config.division,
        submitter=config.submitter,
        system_name=config.system_name,
        software=_software(records),
        meta_path=config.system_meta,
    )
    root = os.path.join(out_dir, "submission")
    readme = {(r.model, r.scenario): config.readme(r.model, r.scenario, r.dataset) for r in records}
    source = resolve_source(config.inference_source, home or Settings().home)
    detail = os.path.join(records[0].output_dir, "mlperf_log_detail.txt")
    version = checker_version(source, detail, config.checker_version)
    # v5.x wants each scenario's measurements, user.conf and README under measurements/
    layout = "v5" if version.startswith("v5") else "v6"
    base = build_submission(records, root, system, readme, layout=layout)
    backup = os.path.join(out_dir, "accuracy-logs-original")
    shutil.rmtree(backup, ignore_errors=True)
    truncate_accuracy_logs(source, root, config.submitter, backup)
    report = run_checker(
        source,
        root,
        run_style=config.run_style,
        version=version,
        csv_path=os.path.join(out_dir, "submission-checker.csv"),
        stand_in=any(r.dataset_subset for r in records),
        extra_flags=extra_flags,
    )
    with open(os.path.join(out_dir, "submission-checker.log"), "w", encoding="utf-8") as fh:
        fh.write(report.output)
    text = report.summary(base)
    if not report.passed:
        log = os.path.join(out_dir, "submission-checker.log")
        raise SubmissionRejected(f"{text.rstrip()}\n(the checker's whole output: {log})")
    with open(os.path.join(out_dir, "submission-check.txt"), "w", encoding="utf-8") as fh:
        fh.write(text)
    return report


class RegressionsFound(CMSnakemakeError):
    """Results fell outside their reference bands."""


def check_references(config: MLPerfConfig, node_results: Iterable[str], out_path: str) -> str:
    """Check the runs (as for :func:`make_results`) against the reference file of the config;
    write the verdict to ``out_path``. Raises :class:`RegressionsFound` with one line per
    regression, naming what changed since the baseline run."""
    from dataclasses import asdict

    from .history import CELL, history_rows, load_history, rows_as_of
    from .references import check, load_references

    references = load_references(config.references)
    paths = list(node_results)
    records = collect(paths, config.system_name)
    rows = history_rows([(r, _node_result(p)) for r, p in zip(records, paths, strict=True)])
    current = {tuple(str(getattr(row, c)) for c in CELL): asdict(row) for row in rows}
    history = load_history(config.history_store)
    baseline = rows_as_of(history, references.baseline_run)
    regressions, checked = check(current, references, baseline)
    if not checked:
        named = sorted({f"{k[0]}/{k[1]}" for k in references.values})
        raise RegressionsFound(
            f"{config.references}: no reference for any result of this run (system "
            f"{config.system_name!r}; the file has {', '.join(named) or 'none'})",
            hint="set system_name to the file's system, or make a baseline for this one: "
            "cm-snakemake results --set-baseline",
        )
    head = f"{checked} results checked against {config.references}" + (
        f" (baseline run {references.baseline_run})" if references.baseline_run else ""
    )
    if regressions:
        raise RegressionsFound(
            f"{len(regressions)} regressions; {head}:\n" + "\n".join(r.line() for r in regressions),
            hint="if the new figures are right, make them the reference: "
            "cm-snakemake results --set-baseline",
        )
    text = f"{head}\nno regression\n"
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


class SubmissionRejected(CMSnakemakeError):
    """MLCommons' checker rejected the submission tree."""


def _software(records: list[RunRecord]) -> dict[str, str]:
    """``framework`` and ``other_software_stack`` as the harness recorded them in each run's
    ``result.json`` (its Python may not be this one)."""
    frameworks, stacks = set(), set()
    for record in records:
        with open(os.path.join(record.output_dir, "result.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        frameworks.add(f"{record.backend} {data.get('onnxruntime_version', '')}".strip())
        parts = [f"Python {data['python_version']}" if data.get("python_version") else "",
                 f"mlcommons-loadgen {data['loadgen_version']}"
                 if data.get("loadgen_version") else ""]  # fmt: skip
        stacks.add(", ".join(p for p in parts if p))
    return {
        "framework": ", ".join(sorted(frameworks)) or "onnxruntime",
        "other_software_stack": "; ".join(sorted(f for f in stacks if f))
        or "Python, mlcommons-loadgen",
    }


def host_facts(files: Iterable[str]) -> dict[str, Any]:
    """The exports of the given node result files (detect-os, detect-cpu), merged."""
    facts: dict[str, Any] = {}
    for path in files:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                facts.update(json.load(fh).get("new_env", {}))
    return facts
