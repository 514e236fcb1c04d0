"""Reference values with tolerances, and the check of new results against them.

A reference file (YAML) holds, per system, model, scenario and metric, a reference tuple
``[value, lower, upper]`` as ReFrame writes them: the bounds are fractions of the value
(``-0.1`` is 10% below it), ``null`` leaves a side open. A result outside its band is a
regression; the check names, for each, what changed in its inputs since the baseline run the
file was made from (history.py)::

    baseline_run: 20261202T101500-1a2b3c
    references:
      box:
        digits-logreg:
          Offline:
            samples_per_second: [400000, -0.1, null]
            top1: [0.9689, -0.01, null]
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Reference", "ReferenceFileError", "Regression", "References", "check", "baseline"]

# metrics where more is better; the others (latencies) are better when smaller
HIGHER_IS_BETTER = ("samples_per_second", "scheduled_samples_per_second", "top1")


def model_key(model: str, implementation: str) -> str:
    """The model's name in a reference file: ``resnet50``, or ``resnet50 (reference)`` for
    another implementation than the bundled harness."""
    return model if implementation in ("", "bundled") else f"{model} ({implementation})"


def missing(value: Any) -> bool:
    """No figure: None, or the NaN a Parquet or CSV column holds for it."""
    return value is None or (isinstance(value, float) and math.isnan(value))


class ReferenceFileError(CMSnakemakeError):
    """The reference file is missing or malformed."""


@dataclass(frozen=True)
class Reference:
    value: float
    lower: float | None
    upper: float | None

    def band(self) -> tuple[float | None, float | None]:
        low = None if self.lower is None else self.value * (1 + self.lower)
        high = None if self.upper is None else self.value * (1 + self.upper)
        return low, high

    def holds(self, value: float) -> bool:
        low, high = self.band()
        return (low is None or value >= low) and (high is None or value <= high)

    def text(self) -> str:
        return f"{self.value:.4g} [{_bound(self.lower)}, {_bound(self.upper)}]"


def _bound(fraction: float | None) -> str:
    return "open" if fraction is None else f"{fraction:+.0%}"


@dataclass(frozen=True)
class References:
    path: str
    baseline_run: str
    values: Mapping[tuple[str, str, str, str], Reference]  # (system, model, scenario, metric)


def _number(value: Any, where: str, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):  # YAML 1.1 reads 1e9 (no sign after the e) as text
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReferenceFileError(
            f"{path}: {where}: {value!r} is not a number or null",
            hint="write a reference as [value, lower, upper], e.g. [1000, -0.1, null]",
        )
    return float(value)


def load_references(path: str) -> References:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ReferenceFileError(
            f"cannot read the reference file {path}: {exc.strerror}",
            hint="make one from a run: cm-snakemake results --set-baseline",
        ) from exc
    except yaml.YAMLError as exc:
        raise ReferenceFileError(f"{path} is not YAML: {exc}") from exc
    tree = data.get("references") if isinstance(data, dict) else None
    if not isinstance(tree, dict):
        raise ReferenceFileError(
            f"{path} has no 'references' mapping (system: model: scenario: metric: [v, lo, hi])"
        )
    values: dict[tuple[str, str, str, str], Reference] = {}
    for system, models in tree.items():
        for model, scenarios in (models or {}).items():
            for scenario, metrics in (scenarios or {}).items():
                for metric, entry in (metrics or {}).items():
                    where = f"references.{system}.{model}.{scenario}.{metric}"
                    if not isinstance(entry, list) or len(entry) != 3:
                        raise ReferenceFileError(
                            f"{path}: {where}: expected [value, lower, upper], got {entry!r}"
                        )
                    value = _number(entry[0], where, path)
                    if value is None or not math.isfinite(value):
                        raise ReferenceFileError(f"{path}: {where}: the value is {value}",
                                                 hint="give a finite number")  # fmt: skip
                    values[(str(system), str(model), str(scenario), str(metric))] = Reference(
                        value, _number(entry[1], where, path), _number(entry[2], where, path)
                    )
    return References(path, str(data.get("baseline_run") or ""), values)


@dataclass(frozen=True)
class Regression:
    cell: tuple[str, str, str, str]
    value: float
    reference: Reference
    changes: tuple[str, ...]

    def line(self) -> str:
        system, model, scenario, metric = self.cell
        changed = "; ".join(self.changes) if self.changes else "no input changed"
        return (
            f"{system} {model} {scenario} {metric}: {self.value:.4g} outside "
            f"{self.reference.text()} (changed since the baseline: {changed})"
        )


def check(
    current: Mapping[tuple[str, ...], Mapping[str, Any]],
    references: References,
    baseline_rows: Mapping[tuple[str, ...], Mapping[str, Any]] | None = None,
) -> tuple[list[Regression], int]:
    """The regressions among ``current`` (history rows by CELL) and the number of cells that
    had a reference. ``baseline_rows`` (the baseline run's rows by CELL) explain them."""
    from .history import differences

    regressions = []
    checked = 0
    for cell, row in current.items():
        system, model_name, implementation, scenario, _mode, metric = cell
        model = model_key(model_name, implementation)
        reference = references.values.get((system, model, scenario, metric))
        if reference is None or missing(row.get("value")):
            continue
        checked += 1
        value = float(row["value"])
        if not reference.holds(value):
            before = (baseline_rows or {}).get(cell)
            changes = tuple(differences(before, row)) if before else ("no baseline row",)
            regressions.append(Regression((system, model, scenario, metric), value, reference,
                                          changes))  # fmt: skip
    return regressions, checked


def baseline(
    current: Mapping[tuple[str, ...], Mapping[str, Any]],
    run_id: str,
    path: str,
    tolerance: float = 0.1,
) -> int:
    """Write ``current`` as the reference file ``path`` (better-is-open bands of
    ``tolerance``); return the number of references written."""
    tree: dict[str, Any] = {}
    count = 0
    for (system, model, implementation, scenario, _mode, metric), row in sorted(current.items()):
        if missing(row.get("value")):
            continue
        name = model_key(model, implementation)
        value = float(row["value"])
        band = [-tolerance, None] if metric in HIGHER_IS_BETTER else [None, tolerance]
        tree.setdefault(system, {}).setdefault(name, {}).setdefault(scenario, {})[metric] = [
            value, *band]  # fmt: skip
        count += 1
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("# [value, lower, upper]: the bounds as fractions of the value; null: open\n")
        yaml.safe_dump({"baseline_run": run_id, "references": tree}, fh, sort_keys=False,
                       default_flow_style=None)  # fmt: skip
    os.replace(tmp, path)
    return count
