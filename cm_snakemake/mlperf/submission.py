"""The MLPerf inference submission tree, and a checker that reports each problem in it.

Layout (one division and submitter)::

    <division>/<submitter>/
      code/<model>/README.md
      systems/<system>.json
      measurements/<system>/<model>/<scenario>/{README.md, user.conf, <system>.json}
      results/<system>/<model>/<scenario>/performance/run_1/mlperf_log_{summary,detail}.txt
      results/<system>/<model>/<scenario>/accuracy/{mlperf_log_{summary,detail}.txt,
                                                     mlperf_log_accuracy.json, accuracy.txt}
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .runs import RunRecord

__all__ = ["SYSTEM_FIELDS", "Problem", "build_submission", "check_submission", "system_description"]

SYSTEM_FIELDS = (
    "division", "submitter", "status", "system_name", "system_type", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_storage_capacity", "accelerators_per_node",
    "accelerator_model_name", "framework", "operating_system",
)  # fmt: skip
PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = (*PERFORMANCE_FILES, "mlperf_log_accuracy.json", "accuracy.txt")
ACCURACY_TARGETS = {"digits": 0.90, "resnet50": 0.99 * 0.76456}  # top-1, by model family
_TOP1 = re.compile(r"top-1 accuracy:\s*([0-9.]+)%")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission tree: where, and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def system_description(
    facts: Mapping[str, Any], *, division: str, submitter: str, system_name: str, framework: str
) -> dict[str, Any]:
    """The system description JSON, filled from detected host facts (``CM_HOST_*``)."""
    cores = facts.get("CM_HOST_CPU_TOTAL_PHYSICAL_CORES") or facts.get(
        "CM_HOST_CPU_TOTAL_LOGICAL_CORES", ""
    )
    os_name = " ".join(str(facts.get(k, "")) for k in ("CM_HOST_OS_FLAVOR", "CM_HOST_OS_VERSION"))
    return {
        "division": division,
        "submitter": submitter,
        "status": "available",
        "system_name": system_name,
        "system_type": "edge",
        "number_of_nodes": "1",
        "host_processor_model_name": str(facts.get("CM_HOST_CPU_MODEL_NAME", "")),
        "host_processors_per_node": str(facts.get("CM_HOST_CPU_SOCKETS", "1") or "1"),
        "host_processor_core_count": str(cores),
        "host_memory_capacity": str(facts.get("CM_HOST_MEMORY_CAPACITY", "")),
        "host_storage_capacity": str(facts.get("CM_HOST_DISK_CAPACITY", "")),
        "accelerators_per_node": "0",
        "accelerator_model_name": "N/A",
        "framework": framework,
        "operating_system": os_name.strip() or "unknown",
        "sw_notes": "run with cm-snakemake",
    }


def _family(model: str) -> str:
    return model.split("-", 1)[0]


def build_submission(records: Iterable[RunRecord], root: str, system: Mapping[str, Any]) -> str:
    """Write the tree for ``records`` below ``root`` (replacing an earlier one); return the
    ``<division>/<submitter>`` folder."""
    name = str(system["system_name"])
    base = os.path.join(root, str(system["division"]), str(system["submitter"]))
    if os.path.isdir(base):
        shutil.rmtree(base)
    os.makedirs(os.path.join(base, "systems"))
    with open(os.path.join(base, "systems", f"{name}.json"), "w", encoding="utf-8") as fh:
        json.dump(dict(system), fh, indent=2)
    for record in records:
        results = os.path.join(base, "results", name, record.model, record.scenario)
        files: tuple[str, ...] = PERFORMANCE_FILES
        if record.mode == "performance":
            target = os.path.join(results, "performance", "run_1")
        else:
            target = os.path.join(results, "accuracy")
            files = ACCURACY_FILES
        os.makedirs(target, exist_ok=True)
        for file in files:
            shutil.copy2(os.path.join(record.output_dir, file), target)
        measurements = os.path.join(base, "measurements", name, record.model, record.scenario)
        os.makedirs(measurements, exist_ok=True)
        shutil.copy2(os.path.join(record.output_dir, "user.conf"), measurements)
        with open(os.path.join(measurements, f"{name}.json"), "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "input_data_types": "fp32",
                    "retraining": "no",
                    "starting_weights_filename": record.model,
                    "weight_data_types": "fp32",
                    "weight_transformations": "none",
                    "run_style": record.run_style,
                },
                fh,
                indent=2,
            )
        with open(os.path.join(measurements, "README.md"), "w", encoding="utf-8") as fh:
            fh.write(
                f"# {record.model} {record.scenario}\n\nRun with `snakemake -s "
                "workflows/mlperf/Snakefile mlperf_all` (cm-snakemake), backend "
                f"{record.backend} on {record.device}.\n"
            )
        code = os.path.join(base, "code", record.model)
        os.makedirs(code, exist_ok=True)
        with open(os.path.join(code, "README.md"), "w", encoding="utf-8") as fh:
            fh.write(
                f"# {record.model}\n\nThe harness is the bundled CM script "
                "`app-mlperf-inference-onnx` of cm-snakemake (LoadGen + onnxruntime).\n"
            )
    return base


def _summary_validity(path: str) -> str | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("Result is"):
                return line.split(":", 1)[1].strip()
    return None


def check_submission(base: str) -> list[Problem]:
    """Every problem of the ``<division>/<submitter>`` tree at ``base``; empty when it passes."""
    problems: list[Problem] = []
    for folder in ("code", "measurements", "results", "systems"):
        if not os.path.isdir(os.path.join(base, folder)):
            problems.append(Problem(os.path.join(base, folder), "required folder is missing"))
    if problems:
        return problems
    systems = sorted(
        f[:-5] for f in os.listdir(os.path.join(base, "systems")) if f.endswith(".json")
    )
    if not systems:
        problems.append(Problem(os.path.join(base, "systems"), "no system description JSON"))
    for system in systems:
        problems += _check_system(base, system)
    return problems


def _check_system(base: str, system: str) -> list[Problem]:
    problems: list[Problem] = []
    path = os.path.join(base, "systems", f"{system}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            description = json.load(fh)
    except (OSError, ValueError) as exc:
        return [Problem(path, f"unreadable system description: {exc}")]
    for key in SYSTEM_FIELDS:
        if str(description.get(key, "")).strip() == "":
            problems.append(Problem(path, f"field {key!r} is missing or empty"))
    results = os.path.join(base, "results", system)
    if not os.path.isdir(results):
        return [*problems, Problem(results, "no results for this system")]
    for model in sorted(os.listdir(results)):
        for scenario in sorted(os.listdir(os.path.join(results, model))):
            problems += _check_scenario(base, system, model, scenario)
    return problems


def _check_scenario(base: str, system: str, model: str, scenario: str) -> list[Problem]:
    problems: list[Problem] = []
    here = os.path.join(base, "results", system, model, scenario)
    run = os.path.join(here, "performance", "run_1")
    for file in PERFORMANCE_FILES:
        if not os.path.isfile(os.path.join(run, file)):
            problems.append(Problem(os.path.join(run, file), "required file is missing"))
    summary = os.path.join(run, "mlperf_log_summary.txt")
    if os.path.isfile(summary):
        validity = _summary_validity(summary)
        if validity != "VALID":
            problems.append(
                Problem(summary, f"the performance run is {validity or 'not judged'}, not VALID")
            )
    accuracy = os.path.join(here, "accuracy")
    for file in ACCURACY_FILES:
        if not os.path.isfile(os.path.join(accuracy, file)):
            problems.append(Problem(os.path.join(accuracy, file), "required file is missing"))
    text_path = os.path.join(accuracy, "accuracy.txt")
    if os.path.isfile(text_path):
        with open(text_path, encoding="utf-8", errors="replace") as fh:
            match = _TOP1.search(fh.read())
        target = ACCURACY_TARGETS.get(_family(model))
        if match is None:
            problems.append(Problem(text_path, "no 'top-1 accuracy: N%' line"))
        elif target is not None and float(match.group(1)) / 100 < target:
            problems.append(
                Problem(
                    text_path,
                    f"top-1 accuracy {match.group(1)}% is below the target {100 * target:.3f}%",
                )
            )
    measurements = os.path.join(base, "measurements", system, model, scenario)
    for file in ("user.conf", "README.md", f"{system}.json"):
        if not os.path.isfile(os.path.join(measurements, file)):
            problems.append(Problem(os.path.join(measurements, file), "required file is missing"))
    if not os.path.isdir(os.path.join(base, "code", model)):
        problems.append(Problem(os.path.join(base, "code", model), "required folder is missing"))
    return problems
