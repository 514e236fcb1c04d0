"""After a killed Snakemake controller: its stale lock and its unfinished-job markers.

Snakemake locks its working directory with files in ``.snakemake/locks`` and marks the
outputs of every job it starts in ``.snakemake/incomplete``; it removes both when it ends.
A controller killed with SIGKILL (the OOM killer, a lost login node, ``kill -9``) leaves them
behind: the next run refuses to start ("Directory cannot be locked") until ``--unlock``, and
then reruns every job that was running, even those whose jobs went on and finished after the
kill (a local job outlives its controller; so does a cluster job).

Each main Snakemake process that reads ``cm.smk`` registers itself in
``.snakemake/cmsm-controllers/`` (host, process id, process start time) and removes its
record when it exits. When a controller starts and every registered controller is gone
(same host, process no longer alive), what they left is stale and is recovered, with a
message:

* their locks are removed (what ``snakemake --unlock`` does);
* the incomplete-job markers of CM results that are complete are removed: a cache entry's
  ``cmsm-result.json``, or a node's result file, is written last and atomically, so if it
  reads back the job finished. Markers of anything else stay, so Snakemake reruns those jobs
  (``--rerun-incomplete``, which the project's profiles set).

Controllers on other hosts cannot be checked from here and are taken to be alive.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import platform
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from ..cache.store import CacheStore, file_lock

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Recovery", "recover_and_register"]

_REGISTRY = "cmsm-controllers"


@dataclass
class Recovery:
    """What was recovered from killed controllers."""

    dead: list[str]
    locks_removed: int = 0
    results_kept: int = 0

    def messages(self) -> list[str]:
        if not self.locks_removed and not self.results_kept:
            return []
        who = ", ".join(self.dead)
        lines = [f"an earlier Snakemake run in this directory was killed ({who})"]
        if self.locks_removed:
            lines.append(f"removed its stale lock ({self.locks_removed} lock files)")
        if self.results_kept:
            lines.append(
                f"kept {self.results_kept} CM results its jobs finished; "
                "its unfinished jobs run again"
            )
        return ["; ".join(lines)]


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _alive(record: dict[str, object]) -> bool:
    """Whether a registered controller may still run: dead only when it ran on this host, in
    this process-id namespace, and its process is gone (or is another process now)."""
    if record.get("host") != platform.node() or record.get("pidns") != _pid_namespace():
        return True  # another host or container: cannot be checked from here
    pid, started = record.get("pid"), record.get("started")
    if not isinstance(pid, int) or not isinstance(started, int | float):
        return True  # a record that cannot be checked is taken to be alive
    now = _start_time(pid)
    return now is not None and abs(now - started) < 1.0  # the same process, not a reused id


def _marker_key(incomplete: str, path: str) -> str | None:
    """The output path a Snakemake incomplete marker stands for (its base64 file name, split
    into ``@``-prefixed folders when longer than a file name may be)."""
    parts = os.path.relpath(path, incomplete).split(os.sep)
    encoded = "".join(p[1:] if p.startswith("@") else p for p in parts)
    try:
        return base64.urlsafe_b64decode(encoded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _finished(output: str, results_dir: str) -> bool:
    """Whether ``output`` is a CM result that reads back complete."""
    if os.path.basename(output) == "cmsm-result.json":
        return CacheStore._read_result(os.path.dirname(output)) is not None
    if os.path.dirname(os.path.dirname(output)) == results_dir and output.endswith(".json"):
        try:
            with open(output, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and "key" in data and "new_env" in data
    return False


def _keep_finished(snakemake_dir: str, results_dir: str) -> int:
    incomplete = os.path.join(snakemake_dir, "incomplete")
    kept = 0
    for folder, _, files in os.walk(incomplete, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            output = _marker_key(incomplete, path)
            if output is not None and _finished(output, results_dir):
                with contextlib.suppress(OSError):
                    os.remove(path)
                    kept += 1
        if folder != incomplete and os.path.basename(folder).startswith("@"):
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty
    return kept


def _remove_locks(snakemake_dir: str) -> int:
    locks = os.path.join(snakemake_dir, "locks")
    try:
        count = sum(1 for n in os.listdir(locks) if n.endswith(".lock"))
    except OSError:
        return 0
    shutil.rmtree(locks, ignore_errors=True)
    return count


def recover_and_register(
    workdir: str, results_dir: str, *, exiting: Callable[[Callable[[], None]], object] | None = None
) -> Recovery:
    """Recover what killed controllers left in ``workdir/.snakemake``, then register this
    process as a live controller until it exits (``exiting`` registers the cleanup; atexit by
    default)."""
    snakemake_dir = os.path.join(workdir, ".snakemake")
    registry = os.path.join(snakemake_dir, _REGISTRY)
    os.makedirs(registry, exist_ok=True)
    # one controller at a time decides and registers: two starting together see each other
    with file_lock(os.path.join(registry, ".lock")):
        recovery, unregister = _recover_and_register(snakemake_dir, registry, results_dir)
    (exiting or atexit.register)(unregister)
    return recovery


def _recover_and_register(
    snakemake_dir: str, registry: str, results_dir: str
) -> tuple[Recovery, Callable[[], None]]:
    dead_files: list[str] = []
    dead: list[str] = []
    live = False
    for name in sorted(n for n in os.listdir(registry) if n.endswith(".json")):
        path = os.path.join(registry, name)
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue  # being written, or not ours
        if not isinstance(record, dict):
            continue
        if _alive(record):
            live = True
        else:
            dead_files.append(path)
            dead.append(f"process {record.get('pid')} on {record.get('host')}")
    recovery = Recovery(dead)
    if dead and not live:
        recovery.locks_removed = _remove_locks(snakemake_dir)
        recovery.results_kept = _keep_finished(snakemake_dir, os.path.abspath(results_dir))
        for path in dead_files:
            with contextlib.suppress(OSError):
                os.remove(path)
    mine = os.path.join(registry, f"{platform.node()}-{os.getpid()}.json")
    tmp = f"{mine}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "host": platform.node(),
                "pidns": _pid_namespace(),
                "pid": os.getpid(),
                "started": _start_time(os.getpid()),
            },
            fh,
        )
    os.replace(tmp, mine)

    def unregister() -> None:
        with contextlib.suppress(OSError):
            os.remove(mine)

    return recovery, unregister
