"""What a plan will fetch from the network, as far as plan time knows.

Three families of scripts reach the network, in CM's and MLC's corpora and in the bundled
repository:

* downloads (``download-file``, ``download-file-verified``): ``*_DOWNLOAD_URL`` with its
  checksum (``*_DOWNLOAD_CHECKSUM`` is MD5, ``*_DOWNLOAD_SHA256``), unless a local file
  (``*_DOWNLOAD_LOCAL_FILE_PATH``) is given;
* git clones (``get-git-repo``): ``*_GIT_URL`` at ``*_GIT_CHECKOUT`` / ``*_GIT_SHA``, unless
  the URL is a local path or ``file://``;
* pip installs (``get-generic-python-lib``, the bundled ``get-python-package``): the package
  and the version constraints of the node, when it is not installed already (which only the
  run can tell).

A value that only run time decides (a hook sets it) is reported as such: the need is then
"maybe", never left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .model import Plan, PlanNode

__all__ = ["FETCHING", "NetworkNeed", "needs_of", "network_needs", "package_name"]

DOWNLOADERS = ("download-file", "download-file-verified")
GIT = ("get-git-repo",)
PIP = ("get-generic-python-lib", "get-python-package")
FETCHING = (*DOWNLOADERS, *GIT, *PIP)
PREFIXES = ("CM_", "MLC_", "CMSM_")


@dataclass(frozen=True)
class NetworkNeed:
    """One thing a node fetches."""

    key: str
    alias: str
    kind: str  # download | git | pip
    what: str  # URL, git URL, or pip requirement
    detail: str  # checksum, revision, or "unless installed"
    known: bool  # False: run time decides (the text says what)

    def line(self) -> str:
        mark = "" if self.known else "  (run time decides)"
        detail = f"  {self.detail}" if self.detail else ""
        return f"{self.kind:8s} {self.alias} [{self.key[:12]}]  {self.what}{detail}{mark}"


def _value(env: Any, name: str) -> tuple[str, bool]:
    """``(value, known)`` of ``<prefix><name>`` in the env (the first prefix that has it)."""
    for prefix in PREFIXES:
        value = env.get(prefix + name)
        if value is None:
            continue
        if isinstance(value, dict) and "$unknown" in value:
            return f"decided by {value['$unknown']}", False
        # a value still holding a <<<VAR>>> placeholder is unset, as the scripts read it
        return ("" if "<<<" in str(value) else str(value)), True
    return "", True


def _local(url: str) -> bool:
    return (bool(url) and "://" not in url) or url.startswith("file://")


def _download(key: str, alias: str, env: Mapping[str, Any], versions: Mapping[str, Any]
              ) -> list[NetworkNeed]:  # fmt: skip
    url, url_known = _value(env, "DOWNLOAD_URL")
    local, local_known = _value(env, "DOWNLOAD_LOCAL_FILE_PATH")
    if url_known and not url:
        return []
    if local_known and local:
        return []  # the local file is used
    if url_known and _local(url):
        return []
    sha256, _ = _value(env, "DOWNLOAD_SHA256")
    md5, _ = _value(env, "DOWNLOAD_CHECKSUM")
    detail = f"sha256:{sha256}" if sha256 else (f"md5:{md5}" if md5 else "no checksum")
    known = url_known and local_known
    if not local_known:
        detail += f"; unless a local file ({local})"
    return [NetworkNeed(key, alias, "download", url, detail, known)]


def _git(key: str, alias: str, env: Mapping[str, Any], versions: Mapping[str, Any]
         ) -> list[NetworkNeed]:  # fmt: skip
    url, known = _value(env, "GIT_URL")
    if known and (not url or _local(url)):
        return []
    revision = next((v for v in (_value(env, n)[0] for n in ("GIT_SHA", "GIT_CHECKOUT",
                                                             "GIT_BRANCH")) if v), "")  # fmt: skip
    return [NetworkNeed(key, alias, "git", url, revision or "default branch", known)]


def _requirement(env: Mapping[str, Any], versions: Mapping[str, Any]) -> tuple[str, bool]:
    for name in ("GENERIC_PYTHON_PACKAGE_NAME", "PYTHON_PACKAGE"):
        package, known = _value(env, name)
        if package or not known:
            break
    if known and not package:
        return "", True
    if versions.get("version"):
        return f"{package}=={versions['version']}", known
    bounds = [f">={versions['version_min']}"] if versions.get("version_min") else []
    bounds += [f"<={versions['version_max']}"] if versions.get("version_max") else []
    return package + ",".join(bounds), known


def _pip(key: str, alias: str, env: Mapping[str, Any], versions: Mapping[str, Any]
         ) -> list[NetworkNeed]:  # fmt: skip
    requirement, known = _requirement(env, versions)
    if known and not requirement:
        return []
    return [NetworkNeed(key, alias, "pip", requirement, "unless installed", known)]


def package_name(requirement: str) -> str:
    """The normalized project name of a pip requirement (PEP 503): ``Scikit_Learn>=1`` ->
    ``scikit-learn``."""
    name = re.split(r"[\s\[<>=!~;@,(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


_FAMILIES = {**dict.fromkeys(DOWNLOADERS, _download), **dict.fromkeys(GIT, _git),
             **dict.fromkeys(PIP, _pip)}  # fmt: skip


def needs_of(key: str, alias: str, env: Mapping[str, Any], versions: Mapping[str, Any]
             ) -> list[NetworkNeed]:  # fmt: skip
    """What one script call fetches, from its env (planned, or the live env of a run) and
    its version constraints; ``[]`` for a script of no fetching family."""
    family = _FAMILIES.get(alias)
    return family(key, alias, env, versions) if family is not None else []


# tags of a run-time dependency -> the family it will likely be
RESIDUAL_FAMILIES = ((("git", "repo"), "git"), (("download",), "download"),
                     (("download-and-extract",), "download"), (("dae",), "download"),
                     (("generic-python-lib",), "pip"), (("python-lib",), "pip"),
                     (("pip-package",), "pip"), (("python-package",), "pip"))  # fmt: skip


def _residual(node: PlanNode) -> list[NetworkNeed]:
    """The node's dependencies that only run time decides and whose tags name a family that
    fetches (a hook may give them a URL): needs the plan cannot spell out."""
    needs = []
    for dep in node.residual_deps:
        words = set(str(dep.tags).replace(",", " ").split())
        kind = next((k for tags, k in RESIDUAL_FAMILIES if words >= set(tags)), None)
        if kind is not None:
            what = f"'{dep.tags}' of {node.alias} (its {dep.list}: {dep.reason})"
            needs.append(NetworkNeed(node.key, node.alias, kind, what, "", known=False))
    return needs


def network_needs(plan: Plan) -> list[NetworkNeed]:
    """Every node's network needs, in plan order (each node once), then those of the
    run-time dependencies that may fetch."""
    needs: list[NetworkNeed] = []
    for node in plan.nodes.values():
        needs += needs_of(node.key, node.alias, node.resolved_env, node.versions)
    for node in plan.nodes.values():
        needs += _residual(node)
    return needs
