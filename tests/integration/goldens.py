"""What the runtime tests against recorded golden runs share.

``test_runtime_corpus.py`` (CM 4.2.0, ``cm_run_golden.json``) and ``test_runtime_mlc.py``
(mlcflow 1.3.8, ``mlc_run_golden.json``) run every case of their golden file in order, as the
generators did: one cache for the whole module, a fresh virtual environment first on ``PATH``
(so ``get,python3`` finds it and package installs go into it), each request in its own work
folder ``<root>/work/<case id>``.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.cache.store import CacheStore
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.runtime.runner import NodeResult, Runtime


def make_world(corpus: Path, root: Path) -> dict[str, Any]:
    """What the cases of a module share: ``root``, the venv in it, the corpus's script index,
    the cache, and the results so far (by case id)."""
    venv = root / "pyvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return {
        "root": root,
        "venv": venv,
        "index": ScriptIndex([open_repository(corpus)]),
        "cache": CacheStore(root / "cache"),
        "results": {},
    }


def substitute(value: Any, placeholders: dict[str, str]) -> Any:
    """A golden value (JSON data) with its placeholders (``<tmp>``, ...) replaced, in order."""
    text = json.dumps(value)
    for placeholder, real in placeholders.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def run_case(
    world: dict[str, Any],
    case_id: str,
    tags: str,
    inputs: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> NodeResult:
    """Run the request in ``<root>/work/<case_id>`` with the world's venv first on ``PATH``."""
    monkeypatch.setenv("PATH", f"{world['venv'] / 'bin'}{os.pathsep}{os.environ['PATH']}")
    work = world["root"] / "work" / case_id
    work.mkdir(parents=True)
    runtime = Runtime(world["index"], cache=world["cache"], workdir=str(work))
    return runtime.run(tags, inputs)


@functools.cache
def host_values() -> frozenset[str]:
    """What this machine reports about itself: ``uname -a`` (whole and word by word), the
    release, and the values of ``lscpu`` and ``/proc/cpuinfo`` lines (``key: value``)."""
    found = {platform.release(), platform.node()}
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=False)
        found.add(uname.stdout.strip())
        found.update(uname.stdout.split())
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpuinfo = fh.read()
    except OSError:
        cpuinfo = ""
    for line in [*lscpu.splitlines(), *cpuinfo.splitlines()]:
        if ":" in line:
            found.add(line.split(":", 1)[1].strip())
    return frozenset(v for v in found if v)


def host_difference(ours: object, golden: object) -> bool:
    """Whether two values may differ only because the golden was recorded on another machine
    (the corpus's detection scripts read ``uname`` and ``lscpu``): ours is what this machine
    reports about itself, or CM's ``Not Found`` for a line this machine's ``lscpu`` lacks (TLB
    sizes on some virtual machines) where the golden has one. The scripts parse those
    reports; the runtime under test runs them."""
    if not isinstance(ours, str) or ours == str(golden):
        return False
    return ours in host_values() or (ours == "Not Found" and str(golden) not in host_values())
