"""Remembered resolutions of ``run`` requests: a cache hit without planning.

Planning a request needs the typed metas and the planner, which take longer to import than a
cached result takes to print. After a run whose requested script is cached, the request (tags,
inputs, facts) is remembered with the key its plan gave and the signatures of everything the
plan read: each script's meta files and files, each repository's script folder (a script added
or removed), and the facts file. The next identical request checks those signatures (a few
``stat`` calls) and, if nothing changed, looks the key up in the cache directly. Anything
changed, or any doubt, and the request is planned as usual.

Requests whose plan chose among several scripts for some tags are not remembered: that choice
can depend on the cache's content.
"""

from __future__ import annotations

import os

from .._util.secretenv import conceal
from .._util.snapshot import file_signature, load_snapshot, save_snapshot
from ..index.links import allowed_by_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..index.repos import Repository

__all__ = ["Remembered", "remember", "request_key", "resolve"]

_TAG = "cm-snakemake resolved requests 1"
_META_NAMES = ("_cm.yaml", "_cm.json", "meta.yaml")
_MAX = 500


class Remembered:
    """What a remembered request resolved to."""

    __slots__ = ("accepted", "alias", "key")

    def __init__(self, key: str, alias: str, accepted: tuple[str, ...]) -> None:
        self.key = key
        self.alias = alias
        self.accepted = accepted


def request_key(request: str, artifact: str | None, inputs: Any, facts_file: str | None) -> str:
    """Identify a request: its text, its inputs and the facts it is planned with."""
    facts = "none"
    if facts_file:  # the file's own signature: an edit in place makes another request
        folder, name = os.path.split(facts_file)
        facts = repr(file_signature(folder, (name,)))
    return repr((request, artifact, _canonical(conceal(inputs)), facts, allowed_by_env()))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return repr(value)


def _checks(script_dirs: list[str], repos: list[Repository]) -> tuple[Any, ...]:
    from ..index.scan import folder_signature

    checks: list[Any] = []
    for repo in repos:
        try:
            checks.append((repo.scripts_dir, os.stat(repo.scripts_dir).st_mtime_ns))
        except OSError:
            checks.append((repo.scripts_dir, None))
    for folder in sorted(set(script_dirs)):
        checks.append((folder, file_signature(folder, _META_NAMES), folder_signature(folder)))
    return tuple(checks)


def _file(index_dir: str) -> str:
    return os.path.join(index_dir, "requests.marshal")


def resolve(index_dir: str, request_id: str, repos: list[Repository]) -> Remembered | None:
    """The remembered resolution of ``request_id``, if nothing it depended on changed."""
    data = load_snapshot(_file(index_dir), _TAG)
    if not isinstance(data, dict):
        return None
    record = data.get(request_id)
    if not isinstance(record, tuple) or len(record) != 4:
        return None
    key, alias, accepted, checks = record
    dirs = [c[0] for c in checks if len(c) == 3]
    if _checks(dirs, repos) != checks:
        return None
    return Remembered(key, alias, accepted)


def remember(
    index_dir: str,
    request_id: str,
    found: Remembered,
    script_dirs: list[str],
    repos: list[Repository],
) -> None:
    """Remember a resolution (an accelerator: failures to write are ignored)."""
    path = _file(index_dir)
    data = load_snapshot(path, _TAG)
    table = dict(data) if isinstance(data, dict) else {}
    if len(table) >= _MAX:
        table.clear()
    table[request_id] = (found.key, found.alias, found.accepted, _checks(script_dirs, repos))
    save_snapshot(path, _TAG, table)
