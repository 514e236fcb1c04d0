"""Where MLCommons' inference source is: a local folder, or a git repository cloned once.

The workflow's ``inference_source`` (and ``results --check --inference-source``) names it:

* a folder (a checkout, or a subset holding ``tools/submission``): used in place;
* a git URL (``https://``, ``ssh://``, ``git@``, ``file://``), optionally ``URL@REVISION``:
  cloned once into ``$CMSM_HOME/sources/mlperf-inference/<digest>`` (as CM's
  ``get-mlperf-inference-src`` clones into its cache), then reused. A clone is made in a
  temporary folder and renamed into place, so a killed clone is never taken for a complete one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

from ..errors import CMSnakemakeError

__all__ = ["DEFAULT_SOURCE", "InferenceSourceError", "resolve_source"]

# master of mlcommons/inference whose checker knows v6.1 (LoadGen 6.0.17's seeds)
DEFAULT_SOURCE = (
    "https://github.com/mlcommons/inference.git@b66003e10e2db4b8c36a448b0545ec90fcc6e9e9"
)
CHECKER = os.path.join("tools", "submission", "submission_checker", "main.py")
_GIT = ("https://", "http://", "ssh://", "git@", "file://")


class InferenceSourceError(CMSnakemakeError):
    """The inference source cannot be found or cloned."""


def _split(spec: str) -> tuple[str, str]:
    """``URL@REV`` -> (URL, REV); an ``@`` of ``git@host`` is not a revision."""
    head, sep, rev = spec.rpartition("@")
    if sep and head and rev and "/" not in rev and ":" not in rev:
        return head, rev
    return spec, ""


def resolve_source(spec: str, home: str, *, what: str = "inference_source") -> str:
    """The local folder of the inference source ``spec`` (see the module's docstring)."""
    spec = spec.strip() or DEFAULT_SOURCE
    if not spec.startswith(_GIT):
        folder = os.path.abspath(os.path.expanduser(spec))
        if not os.path.isfile(os.path.join(folder, CHECKER)):
            raise InferenceSourceError(
                f"{what}: {folder} holds no MLPerf submission checker ({CHECKER})",
                hint="name a checkout of mlcommons/inference (or its tools/submission "
                "subset), or a git URL",
            )
        return folder
    url, rev = _split(spec)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    target = os.path.join(home, "sources", "mlperf-inference", digest)
    if os.path.isfile(os.path.join(target, CHECKER)):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{digest}-", dir=os.path.dirname(target))
    try:
        _clone(url, rev, work, what)
        if not os.path.isfile(os.path.join(work, CHECKER)):
            raise InferenceSourceError(
                f"{what}: {spec} has no {CHECKER}",
                hint="name a revision of mlcommons/inference that has the v6 checker",
            )
        try:
            os.rename(work, target)
        except OSError:  # another process finished first
            if not os.path.isfile(os.path.join(target, CHECKER)):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _clone(url: str, rev: str, folder: str, what: str) -> None:
    def git(*args: str) -> None:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise InferenceSourceError(
                f"{what}: git {args[0]} of {url} failed: {lines[-1] if lines else done.returncode}",
                hint=f"without network, point {what} to a local checkout of "
                "mlcommons/inference (for the MLPerf workflow: --config inference_source=PATH, "
                "or workflows/mlperf/config.yaml), or to a file:// URL of a git repository",
            )

    git("init", "-q")
    git("remote", "add", "origin", url)
    git("fetch", "-q", "--depth", "1", "origin", rev or "HEAD")
    git("checkout", "-q", "FETCH_HEAD")
