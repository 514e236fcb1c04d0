"""The MLPerf inference submission tree, laid out as MLCommons' checker (v6) wants it.

Layout (one division and submitter)::

    <division>/<submitter>/
      src/README.md                      the harness: what it is, where its code is
      systems/<system>.json              every field the checker requires (system.py)
      model_mapping.json                 open division: our model names -> benchmark names
      results/<system>/<model>/<scenario>/
        measurements.json  user.conf  README.md
        performance/run_1/mlperf_log_{summary,detail}.txt
        accuracy/mlperf_log_{summary,detail}.txt  mlperf_log_accuracy.json  accuracy.txt

For a checker version of v5.x, ``measurements.json`` (as ``<system>_<scenario>.json``),
``user.conf`` and ``README.md`` go to ``measurements/<system>/<model>/<scenario>/`` instead,
and ``src/`` is ``code/``, as that version's layout has them.

``user.conf`` is the performance run's. ``accuracy.txt`` carries the line the checker reads
(``accuracy=NN.NNN%, good=G, total=T``, as MLCommons' ``accuracy-imagenet.py`` prints it)
above the harness's own line; ``truncate_accuracy_log.py`` (checker.py) adds the hash. Whether
the tree is a submission is for MLCommons' checker to say (checker.py), not for this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .runs import RunRecord

__all__ = ["BENCHMARK_OF", "SubmissionError", "build_submission"]

PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = (*PERFORMANCE_FILES, "mlperf_log_accuracy.json")
# models of the bundled harness that MLPerf does not know -> the benchmark they stand in for
BENCHMARK_OF = {"digits-logreg": "resnet", "digits-mlp": "resnet"}
SOURCE_NOTE = {  # what made the runs of each implementation
    "bundled": "The runs were made by the CM script `app-mlperf-inference-onnx` bundled with "
    "cm-snakemake (`cm_snakemake/repo/script/app-mlperf-inference-onnx`): MLCommons LoadGen "
    "around an onnxruntime session.",
    "reference": "The runs were made by the CM script `app-mlperf-inference` with its "
    "`_reference` variation (the CM corpus, cmx4mlops), which runs MLCommons' reference "
    "implementation `vision/classification_and_detection` of the inference source (its "
    "`python/main.py`, LoadGen and onnxruntime).",
}
_TOP1 = re.compile(r"top-1 accuracy:\s*([0-9.]+)%(?:\s*\((\d+)/(\d+)\))?")


class SubmissionError(CMSnakemakeError):
    """A run's files do not make a submission (a missing file or accuracy line)."""


def _accuracy_text(source: str) -> str:
    with open(source, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    match = _TOP1.search(text)
    if match is None:
        raise SubmissionError(
            f"{source} has no 'top-1 accuracy: N%' line",
            hint="rerun the accuracy run of this cell (snakemake --forcerun)",
        )
    line = f"accuracy={float(match.group(1)):.3f}%"
    if match.group(2):
        line += f", good={match.group(2)}, total={match.group(3)}"
    return f"{line}\n{text.rstrip()}\n"


def _copy(files: Iterable[str], source: str, target: str) -> None:
    os.makedirs(target, exist_ok=True)
    for file in files:
        path = os.path.join(source, file)
        if not os.path.isfile(path):
            raise SubmissionError(
                f"the run in {source} has no {file}",
                hint="rerun that benchmark job (snakemake --forcerun)",
            )
        shutil.copy2(path, target)


def build_submission(
    records: Iterable[RunRecord],
    root: str,
    system: Mapping[str, Any],
    readme: Mapping[tuple[str, str], str],
    layout: str = "v6",
) -> str:
    """Write the tree for ``records`` below ``root`` (replacing an earlier one); return the
    ``<division>/<submitter>`` folder. ``readme[(model, scenario)]`` says how that cell was
    produced."""
    name = str(system["system_name"])
    base = os.path.join(root, str(system["division"]), str(system["submitter"]))
    if os.path.isdir(base):
        shutil.rmtree(base)
    os.makedirs(os.path.join(base, "systems"))
    with open(os.path.join(base, "systems", f"{name}.json"), "w", encoding="utf-8") as fh:
        json.dump(dict(system), fh, indent=2)
    mapping: dict[str, str] = {}
    for record in records:
        results = os.path.join(base, "results", name, record.model, record.scenario)
        if record.model in BENCHMARK_OF:
            mapping[record.model] = BENCHMARK_OF[record.model]
        if record.mode == "performance":
            _copy(PERFORMANCE_FILES, record.output_dir, os.path.join(results, "performance",
                                                                     "run_1"))  # fmt: skip
            described, measurements = results, os.path.join(results, "measurements.json")
            if layout == "v5":
                described = os.path.join(base, "measurements", name, record.model,
                                         record.scenario)  # fmt: skip
                measurements = os.path.join(described, f"{name}_{record.scenario}.json")
            os.makedirs(described, exist_ok=True)
            shutil.copy2(os.path.join(record.output_dir, "user.conf"), described)
            _write(measurements, json.dumps({
                "input_data_types": "fp32",
                "retraining": "no",
                "starting_weights_filename": f"{record.model}.onnx",
                "weight_data_types": "fp32",
                "weight_transformations": "none",
            }, indent=2))  # fmt: skip
            _write(os.path.join(described, "README.md"), readme[(record.model, record.scenario)])
        else:
            target = os.path.join(results, "accuracy")
            _copy(ACCURACY_FILES, record.output_dir, target)
            text = _accuracy_text(os.path.join(record.output_dir, "accuracy.txt"))
            _write(os.path.join(target, "accuracy.txt"), text)
    if mapping and str(system["division"]) == "open":
        _write(os.path.join(base, "model_mapping.json"), json.dumps(mapping, indent=2))
    harnesses = sorted({SOURCE_NOTE.get(r.implementation, r.implementation) for r in records})
    _write(
        os.path.join(base, "code" if layout == "v5" else "src", "README.md"),
        "# The harness\n\n"
        + "\n\n".join(harnesses)
        + "\n\nThe runs were driven by the Snakemake workflow `workflows/mlperf/Snakefile` of "
        "cm-snakemake.\n",
    )
    return base


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
