"""``cmind.access`` / ``mlc.access`` while a hook runs: the actions the corpora use.

A hook asks by ``action`` and ``automation`` (MLC also says ``target``); the answer has CM's
contract, ``{'return': 0, ...}`` or ``{'return': N, 'error': text}`` (docs/compatibility.md,
"Helpers and keys the corpora use"):

* ``run`` on ``script``: a nested script run through the same runtime, planner and cache;
* ``find`` / ``search`` on ``script``: the scripts matching ``tags`` (or ``artifact``), as
  artifacts with ``path`` and ``meta``; on ``repo`` (and ``show``): the registered
  repositories matching ``artifact`` (``alias`` or ``alias,uid``), with ``path`` and ``meta``;
  on ``cache``: the complete cache entries whose CM tags (the script's tags, ``_<variation>``
  for each variation, ``version-<v>``, the extra cache tags) include ``tags``;
* on ``utils``: ``download_file`` (http, https and file URLs), ``unzip_file`` and ``system``,
  with the inputs and outputs of CM's ``utils`` automation.

Anything else is refused with :class:`~cm_snakemake.runtime.compat.cmind.UnsupportedAccess`,
which the hook boundary turns into a script failure naming the script, hook and line.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import TYPE_CHECKING, Any

from ..cache.store import PROVENANCE
from ..errors import CMSnakemakeError
from ..meta.model import to_jsonable
from ..meta.tags import TagQuery
from .compat.cmind import UnsupportedAccess

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..cache.store import CacheStore
    from ..index.scripts import ScriptEntry, ScriptIndex

__all__ = ["Artifact", "HookAccess"]

Result = dict[str, Any]

_REFUSED = {
    ("rm", "cache"): "removing cache entries from a hook; use 'cm-snakemake cache rm'",
    ("remote_run", "script"): "remote runs; run the script where it should run",
    ("docker", "script"): "containers are not run by cm-snakemake; run the script itself, or "
    "inside a container you start",
    ("add", "experiment"): "CM's experiment entries are not kept; results of MLPerf runs are "
    "in the workflow's results folder",
    ("find", "experiment"): "CM's experiment entries are not kept",
}


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Artifact:
    """A found script or repository: ``path`` and ``meta`` (and ``repo_path`` for a script),
    what CM's artifact objects offer hooks."""

    def __init__(self, path: str, meta: dict[str, Any], repo_path: str = "") -> None:
        self.path = path
        self.meta = meta
        self.repo_path = repo_path or os.path.dirname(os.path.dirname(path))


class HookAccess:
    """Answers ``access`` calls of the hooks of one script run."""

    def __init__(
        self,
        index: ScriptIndex,
        nested_run: Callable[[dict[str, Any]], Result],
        cache: CacheStore | None = None,
    ) -> None:
        self.index = index
        self.nested_run = nested_run
        self.cache = cache

    def __call__(self, i: dict[str, Any]) -> Result:
        action = str(i.get("action", ""))
        automation = str(i.get("automation") or i.get("target") or "").split(",")[0]
        if action == "run" and automation == "script":
            return self.nested_run(i)
        if action in ("find", "search") and automation == "script":
            return self._find_scripts(i)
        if action in ("find", "search", "show") and automation == "repo":
            return self._find_repos(i)
        if action in ("find", "search") and automation == "cache":
            return self._find_cache(i)
        if automation == "utils" and action in ("download_file", "unzip_file", "system"):
            handler: Callable[[dict[str, Any]], Result] = getattr(self, f"_{action}")
            return handler(i)
        why = _REFUSED.get((action, automation))
        raise UnsupportedAccess(
            f"not supported: access action '{action}' on '{automation}'"
            + (f" ({why})" if why else ""),
            hint="cm-snakemake answers the access actions the corpora use; "
            "see docs/compatibility.md.",
        )

    # -- scripts and repositories ------------------------------------------------------------

    def _find_scripts(self, i: dict[str, Any]) -> Result:
        from ..index.search import find_scripts

        query = TagQuery.parse(str(i.get("tags", "")))
        try:
            found = find_scripts(self.index, query, artifact=i.get("artifact") or None)
        except CMSnakemakeError:
            found = []
        return {"return": 0, "list": [self._artifact(e) for e in found]}

    def _artifact(self, entry: ScriptEntry) -> Artifact:
        meta: dict[str, Any] = to_jsonable(self.index.meta(entry))
        return Artifact(entry.path, meta, self.index.repository(entry).root)

    def _find_repos(self, i: dict[str, Any]) -> Result:
        wanted = str(i.get("artifact", "") or "")
        alias, _, uid = wanted.partition(",")
        found = [
            Artifact(r.root, {"alias": r.alias, "uid": r.uid}, r.root)
            for r in self.index.repos
            if not wanted or r.alias == alias or (uid and r.uid == uid)
        ]
        return {"return": 0, "list": found}

    def _find_cache(self, i: dict[str, Any]) -> Result:
        wanted = {t.strip() for t in str(i.get("tags", "")).split(",") if t.strip()}
        found = []
        tags_of = {e.alias: e.tags for e in self.index.usable()}
        for entry in self.cache.entries() if self.cache is not None else []:
            provenance = _read_json(os.path.join(entry.path, PROVENANCE))
            variations = provenance.get("variations", [])
            tags = {*tags_of.get(entry.alias, ()), *(f"_{v}" for v in variations)}
            version = str(entry.result.get("version", "") or "")
            if version:
                tags.add(f"version-{version}")
            tags |= set(entry.result.get("extra_cache_tags", []) or [])
            if wanted <= tags:
                meta = {"tags": sorted(tags), "uid": entry.key, "alias": entry.alias}
                found.append(Artifact(entry.path, meta, os.path.dirname(entry.path)))
        return {"return": 0, "list": found}

    # -- CM's utils automation ---------------------------------------------------------------

    def _download_file(self, i: dict[str, Any]) -> Result:
        url = str(i["url"])
        name = str(i.get("filename") or "") or os.path.basename(urllib.parse.urlparse(url).path)
        folder = str(i.get("path") or "") or os.getcwd()
        target = os.path.join(folder, name)
        verify = i.get("verify", True)
        if "CM_UTILS_DOWNLOAD_VERIFY_SSL" in os.environ:
            verify = os.environ["CM_UTILS_DOWNLOAD_VERIFY_SSL"] == "yes"
        context = None if verify else ssl._create_unverified_context()
        if os.path.isfile(target):
            os.remove(target)
        partial = f"{target}.part"
        try:
            with (
                urllib.request.urlopen(url, context=context, timeout=60) as response,
                open(partial, "wb") as out,
            ):
                shutil.copyfileobj(response, out, length=int(i.get("chunk_size", 65536)))
            os.replace(partial, target)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            if os.path.exists(partial):
                os.remove(partial)
            return {"return": 1, "error": f"download of {url} failed: {exc}"}
        return {"return": 0, "filename": name, "path": target, "size": os.path.getsize(target)}

    def _unzip_file(self, i: dict[str, Any]) -> Result:
        name = str(i["filename"])
        if not os.path.isfile(name):
            return {"return": 1, "error": f"file {name} not found"}
        folder = str(i.get("path") or "") or os.getcwd()
        strip = int(i.get("strip_folders", 0) or 0)
        with zipfile.ZipFile(name) as archive:
            for info in archive.infolist():
                member = info.filename
                if member.startswith(("..", "/", "\\")) or ".." in member.split("/"):
                    continue  # never outside the target folder
                if strip > 0:
                    member = "/".join(member.split("/")[strip:])
                    if not member:
                        continue
                path = os.path.join(folder, member)
                if member.endswith("/"):
                    os.makedirs(path, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                with archive.open(info) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(path, mode & 0o777)
        return {"return": 0}

    def _system(self, i: dict[str, Any]) -> Result:
        cmd = str(i.get("cmd", ""))
        if not cmd:
            return {"return": 1, "error": "cmd is empty"}
        path = str(i.get("path", "") or "")
        cwd = path if path and os.path.isdir(path) else None
        done = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, check=False)
        stdout, stderr = done.stdout.strip(), done.stderr.strip()
        for key, text in (("stdout", done.stdout), ("stderr", done.stderr)):
            if i.get(key):
                with open(str(i[key]), "w", encoding="utf-8") as fh:
                    fh.write(text)
        std = "\n".join(t for t in (stdout, stderr) if t)
        return {"return": 0, "ret": done.returncode, "std": std, "stdout": stdout, "stderr": stderr}
