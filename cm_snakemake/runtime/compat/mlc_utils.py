"""cm-snakemake's own ``mlc.utils``: the helpers MLC scripts call, with mlcflow 1.3.8's contract.

MLC's helpers differ from CM's of the same name (:mod:`.utils`): they return errors instead of
raising (``load_txt`` of a missing file answers ``{'return': 1, ...}``, not code 16), and the
module hands its imports to ``from mlc.utils import *`` too. The MLC corpus relies on that: its
``automation/utils.py`` starts with that line and then uses ``os``, ``json`` and ``yaml``. So
``__all__`` lists the standard modules the real one imports as well as the helpers, and nothing
of this module's own machinery. It is written for this project from the documented behaviour of
mlcflow; no code is taken from it. Any other name raises
:class:`~.utils.UnsupportedHelper`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from typing import Any, NoReturn

import yaml
from packaging import version

from .utils import UnsupportedHelper

__all__ = [
    # the standard modules the real module imports, which ``import *`` hands on
    "argparse", "importlib", "json", "logging", "os", "platform", "re", "shutil", "subprocess",
    "sys", "tarfile", "uuid", "version", "yaml", "zipfile",
    # its logger and helpers
    "logger", "compare_versions", "convert_env_to_dict", "convert_tags_to_list",
    "generate_temp_file", "get_new_uid", "is_uid", "load_json", "load_txt", "merge_dicts",
    "print_env", "printd", "read_json", "read_yaml", "run_system_cmd", "save_json", "save_txt",
    "save_yaml",
]  # fmt: skip

Result = dict[str, Any]

logger = logging.getLogger("cm_snakemake.script")


def __getattr__(name: str) -> NoReturn:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise UnsupportedHelper(name, "mlc.utils")


def _failed(exc: BaseException) -> Result:
    return {"return": 1, "error": str(exc)}


def load_txt(
    file_name: str,
    check_if_exists: bool = False,
    split: bool = False,
    match_text: str | None = None,
    fail_if_no_match: str | None = None,
    remove_after_read: bool = False,
) -> Result:
    """The text in ``string`` (and its lines in ``list`` with ``split``); ``match`` is the
    ``re.search`` match of ``match_text``, if any. Every failure is ``return: 1``."""
    if check_if_exists and not os.path.isfile(file_name):
        return {"return": 1, "error": f"File '{file_name}' does not exist."}
    try:
        with open(file_name) as fh:
            text = fh.read()
        found = re.search(match_text, text) if match_text else None
        if match_text and found is None and fail_if_no_match:
            return {"return": 1, "error": fail_if_no_match}
        if remove_after_read:
            os.remove(file_name)
    except Exception as exc:  # mlcflow reports every failure as a result
        return _failed(exc)
    result: Result = {"return": 0, "string": text}
    if split:
        result["list"] = text.splitlines()
    if found:
        result["match"] = found
    return result


def load_json(file_name: str, encoding: str | None = None) -> Result:
    """The parsed file in ``meta``; a missing or broken file is ``return: 1``."""
    try:
        with open(file_name, encoding=encoding) as fh:
            return {"return": 0, "meta": json.load(fh)}
    except FileNotFoundError:
        return {"return": 1, "error": f"File '{file_name}' not found."}
    except json.JSONDecodeError:
        return {"return": 1, "error": f"Error decoding JSON in file '{file_name}'."}
    except Exception as exc:
        return {"return": 1, "error": f"An unexpected error occurred: {exc}"}


def read_json(file_name: str) -> Any:
    """The parsed JSON file itself (exceptions propagate)."""
    with open(file_name) as fh:
        return json.load(fh)


def read_yaml(file_name: str) -> Any:
    """The parsed YAML file itself (exceptions propagate)."""
    with open(file_name) as fh:
        return yaml.safe_load(fh)


def save_json(file_name: str, meta: Any) -> Result:
    try:
        with open(file_name, "w") as fh:
            json.dump(meta, fh, indent=4)
    except Exception as exc:
        return _failed(exc)
    return {"return": 0, "error": ""}


def save_yaml(file_name: str, meta: Any, sort_keys: bool = True) -> Result:
    try:
        with open(file_name, "w") as fh:
            yaml.dump(meta, fh, default_flow_style=False, sort_keys=sort_keys)
    except Exception as exc:
        return _failed(exc)
    return {"return": 0, "error": ""}


def save_txt(file_name: str, string: str) -> Result:
    try:
        with open(file_name, "w") as fh:
            fh.write(string)
    except Exception as exc:
        return _failed(exc)
    return {"return": 0, "error": ""}


def generate_temp_file(i: dict[str, Any]) -> Result:
    """A new file ``<prefix><32 hex digits><suffix>`` in the current folder holding
    ``string``; its name in ``file_name``."""
    name = f"{i.get('prefix', '')}{uuid.uuid4().hex}{i.get('suffix', '')}"
    try:
        with open(name, "w") as fh:
            fh.write(str(i.get("string", "")))
    except Exception as exc:
        return _failed(exc)
    return {"return": 0, "file_name": name}


def get_new_uid() -> Result:
    return {"return": 0, "uid": uuid.uuid4().hex[:16]}


def is_uid(name: str) -> bool:
    """Whether ``name`` is 16 lowercase hex digits."""
    return re.fullmatch(r"[0-9a-f]{16}", name) is not None


def compare_versions(current_version: str, min_version: str) -> int:
    """-1, 0 or 1 as ``current_version`` is older, equal or newer (PEP 440 order); a version
    that is not PEP 440 raises ``ValueError``, as in mlcflow."""
    try:
        current, minimum = version.parse(current_version), version.parse(min_version)
    except version.InvalidVersion as exc:
        raise ValueError(f"Invalid version format: {exc}") from None
    return -1 if current < minimum else (1 if current > minimum else 0)


def run_system_cmd(i: dict[str, Any]) -> Result:
    """Run ``cmd`` in a shell in ``path``; its stripped output in ``output``."""
    path, cmd = str(i.get("path", ".")), str(i.get("cmd", ""))
    if not cmd:
        return {"return": 1, "error": "No command provided to execute."}
    if not os.path.exists(path):
        return {"return": 1, "error": f"Specified path does not exist: '{path}'"}
    done = subprocess.run(cmd, cwd=path, shell=True, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {
            "return": 1,
            "error": f"Command execution failed with error code {done.returncode}.",
            "error_output": done.stderr.strip(),
        }
    return {"return": 0, "output": done.stdout.strip(), "error_output": done.stderr.strip()}


def _unique(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def merge_dicts(params: dict[str, Any], in_place: bool = True) -> Result:
    """Merge ``dict2`` into ``dict1`` (a copy of it unless ``in_place``): dicts recursively,
    lists replaced, or appended with ``append_lists`` (without repeats with
    ``append_unique``); the result in ``merged`` and ``dict1``."""
    first: dict[str, Any] = params.get("dict1", {})
    second: dict[str, Any] = params.get("dict2", {})
    if first == second:
        return {"return": 0, "merged": first, "dict1": first}
    merged = first if in_place else dict(first)
    for key, value in second.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merge_dicts({**params, "dict1": old, "dict2": value}, in_place)
        elif isinstance(old, list) and isinstance(value, list) and params.get("append_lists"):
            merged[key] = _unique(old + value) if params.get("append_unique") else old + value
        else:
            merged[key] = value
    return {"return": 0, "merged": merged, "dict1": merged}


def convert_tags_to_list(tags_string: Any) -> Result:
    """``"a, b,,c"`` → ``tags: ['a', 'b', 'c']``."""
    if not isinstance(tags_string, str):
        return {"return": 1, "error": "Input must be a string."}
    return {"return": 0, "tags": [t.strip() for t in tags_string.split(",") if t.strip()]}


def convert_env_to_dict(env_text: str) -> Result:
    """``KEY=value`` lines into ``dict`` (lines without ``=`` are skipped)."""
    found: dict[str, str] = {}
    for line in env_text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return {"return": 0, "dict": found}


def print_env(env: dict[str, Any], yaml: bool = True, sort_keys: bool = True) -> None:
    printd(env, sort_keys=sort_keys)


def printd(mydict: dict[str, Any], yaml: bool = True, sort_keys: bool = True) -> None:
    logger.info(json.dumps(mydict, indent=2, sort_keys=sort_keys, default=str))
