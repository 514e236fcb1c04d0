"""The system description of a submission (``systems/<system>.json``).

Every field MLCommons' checker requires is written. Values come from three places, later
ones winning: defaults for what a CPU-only host has (no accelerator: ``N/A``, ``0``), the
detected host facts (``CM_HOST_*`` of ``detect-os`` and ``detect-cpu``: CPU model, sockets,
cores, caches, memory, disk, OS; nothing is read from the machine the submission rule runs
on, which on a cluster is not where the benchmarks ran), and the user's ``system_meta`` file
(YAML or JSON) for what no detector can know (cooling, status, networking, notes). A field
the checker needs a meaningful value for that is still empty is an error naming the field and
the file to edit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MEANINGFUL_FIELDS", "REQUIRED_FIELDS", "SystemMetaError", "check_description",
           "load_system_meta", "preflight", "system_description"]  # fmt: skip

# the checker's lists (v6.1): every one must be present, MEANINGFUL_FIELDS non-empty
REQUIRED_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_storage_capacity", "host_storage_type",
    "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack",
    "host_processor_frequency", "host_processor_caches", "host_memory_configuration",
    "host_processor_interconnect", "host_networking", "host_networking_topology",
    "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes",
    "host_network_card_count", "system_type_detail",
)  # fmt: skip
MEANINGFUL_FIELDS = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity",
    "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name",
    "accelerator_memory_capacity", "accelerator_host_interconnect",
    "accelerator_memory_configuration", "accelerator_interconnect", "cooling", "framework",
    "operating_system", "other_software_stack",
)  # fmt: skip
DETECTED_FIELDS = ("host_processor_model_name", "host_processors_per_node",
                   "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
                   "operating_system")  # fmt: skip
STATUSES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge")
_NO_ACCELERATOR = {
    "accelerators_per_node": "0", "accelerator_model_name": "N/A",
    "accelerator_memory_capacity": "N/A", "accelerator_host_interconnect": "N/A",
    "accelerator_memory_configuration": "N/A", "accelerator_interconnect": "N/A",
    "accelerator_frequency": "", "accelerator_interconnect_topology": "",
    "accelerator_on-chip_memories": "",
}  # fmt: skip


class SystemMetaError(CMSnakemakeError):
    """The system description misses a value, or the system_meta file is bad."""


def load_system_meta(path: str) -> dict[str, Any]:
    """The user's ``system_meta`` file: a mapping of system-description fields."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SystemMetaError(
            f"system_meta: cannot read {path}: {exc.strerror}",
            hint="set system_meta in the workflow config to a YAML or JSON file",
        ) from exc
    import yaml

    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SystemMetaError(
            f"system_meta: {path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
            f"{exc}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SystemMetaError(f"system_meta: {path} must hold a mapping of fields")
    unknown = sorted(set(data) - set(REQUIRED_FIELDS) - {"submitter", "division"})
    if unknown:
        raise SystemMetaError(
            f"system_meta: {path}: unknown fields {', '.join(unknown)}",
            hint="the fields are those of MLPerf's system description: "
            + ", ".join(REQUIRED_FIELDS),
        )
    return {str(k): "" if v is None else str(v) for k, v in data.items()}


def _caches(facts: Mapping[str, Any]) -> str:
    names = (("L1d", "CM_HOST_CPU_L1D_CACHE_SIZE"), ("L1i", "CM_HOST_CPU_L1I_CACHE_SIZE"),
             ("L2", "CM_HOST_CPU_L2_CACHE_SIZE"), ("L3", "CM_HOST_CPU_L3_CACHE_SIZE"))  # fmt: skip
    return ", ".join(f"{label}: {facts[k]}" for label, k in names if facts.get(k))


def detected(facts: Mapping[str, Any]) -> dict[str, str]:
    """The fields the host facts give."""
    cores = facts.get("CM_HOST_CPU_TOTAL_PHYSICAL_CORES") or facts.get(
        "CM_HOST_CPU_TOTAL_LOGICAL_CORES", ""
    )
    os_name = " ".join(str(facts.get(k, "")) for k in ("CM_HOST_OS_FLAVOR", "CM_HOST_OS_VERSION"))
    kernel = str(facts.get("CM_HOST_OS_KERNEL_VERSION", "") or "")
    out = {
        "host_processor_model_name": str(facts.get("CM_HOST_CPU_MODEL_NAME", "") or ""),
        "host_processors_per_node": str(facts.get("CM_HOST_CPU_SOCKETS", "") or ""),
        "host_processor_core_count": str(cores or ""),
        "host_processor_caches": _caches(facts),
        "host_memory_capacity": str(facts.get("CM_HOST_MEMORY_CAPACITY", "") or ""),
        "host_storage_capacity": str(facts.get("CM_HOST_DISK_CAPACITY", "") or ""),
        "operating_system": (os_name.strip() + (f" (kernel {kernel})" if kernel else "")),
    }
    return {k: v for k, v in out.items() if v}


def _merged(facts: Mapping[str, Any], meta: Mapping[str, str], fixed: Mapping[str, str],
            software: Mapping[str, str]) -> dict[str, str]:  # fmt: skip
    description = {k: "" for k in REQUIRED_FIELDS} | _NO_ACCELERATOR | {"number_of_nodes": "1"}
    return description | dict(software) | detected(facts) | dict(meta) | dict(fixed)


def system_description(
    facts: Mapping[str, Any],
    meta: Mapping[str, str],
    *,
    division: str,
    submitter: str,
    system_name: str,
    software: Mapping[str, str],
    meta_path: str,
) -> dict[str, str]:
    """Every field of the system description; a missing meaningful value is an error.
    ``software`` gives ``framework`` and ``other_software_stack`` (from the runs)."""
    fixed = {"division": division, "submitter": submitter, "system_name": system_name}
    description = _merged(facts, meta, fixed, software)
    check_description(description, meta_path)
    return description


def check_description(
    description: Mapping[str, str], meta_path: str, *, detectable: bool = False
) -> None:
    """Raise :class:`SystemMetaError` for a missing meaningful field or a bad status or type.
    With ``detectable``, the fields the host facts fill count as given (a check before any
    job has run)."""
    where = meta_path or "the file named by system_meta in the workflow config"
    given = set(DETECTED_FIELDS) if detectable else set()
    missing = [
        k for k in MEANINGFUL_FIELDS if k not in given and not str(description.get(k, "")).strip()
    ]
    if missing:
        raise SystemMetaError(
            f"the system description lacks {', '.join(missing)}",
            hint=f"set {'it' if len(missing) == 1 else 'them'} in {where} (MLPerf's "
            "checker needs a meaningful value)",
        )
    status = str(description.get("status", ""))
    if status.lower() not in STATUSES:
        raise SystemMetaError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    kind = str(description.get("system_type", ""))
    if kind not in SYSTEM_TYPES:
        raise SystemMetaError(
            f"{where}: system_type {kind!r} is not one of {', '.join(SYSTEM_TYPES)}"
        )


def preflight(meta: Mapping[str, str], meta_path: str, *, division: str, submitter: str,
              system_name: str) -> None:  # fmt: skip
    """Check, before anything runs, that ``meta`` and the host facts will fill every field."""
    fixed = {"division": division, "submitter": submitter, "system_name": system_name}
    software = {"framework": "(from the runs)", "other_software_stack": "(from the runs)"}
    check_description(_merged({}, meta, fixed, software), meta_path, detectable=True)
