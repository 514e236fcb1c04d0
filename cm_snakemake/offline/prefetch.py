"""Prefetch: fetch what a plan's network needs name into a bundle, on a machine with network.

* downloads: fetched with urllib (http, https, file), verified against the checksum the plan
  asks for (MD5 or SHA-256), stored as ``files/<sha256 prefix>-<name>``;
* git clones: ``git clone --mirror`` into ``git/`` (a revision the plan names must be in it);
* pip installs: ``pip download`` of the requirement and its dependencies into ``pip/``, for
  the target's Python and platform when a facts file of the target gives them.

An item already in the bundle (same source, and for downloads the same checksum) is not
fetched again; the manifest is saved after each item, and files are written under a
temporary name and renamed, so an interrupted prefetch keeps what it finished and leaves no
half-written file the bundle would trust. Needs that only run time decides cannot be fetched;
they are reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError
from .bundle import Bundle, Item, wanted_checksum

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._util.reporting import Reporter
    from ..plan.network import NetworkNeed

__all__ = ["PrefetchError", "PrefetchReport", "pip_target", "prefetch", "python_facts"]

CHUNK = 1 << 20


class PrefetchError(CMSnakemakeError):
    """An item could not be fetched (the bundle keeps the others)."""


@dataclass
class PrefetchReport:
    """What a prefetch did."""

    added: list[Item] = field(default_factory=list)
    present: list[Item] = field(default_factory=list)
    undecided: list[NetworkNeed] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added   {i.kind:8s} {i.source}  ({_size(i.size)})" for i in self.added]
        out += [f"present {i.kind:8s} {i.source}" for i in self.present]
        out += [f"not fetched (run time decides): {n.kind} {n.what}" for n in self.undecided]
        total = sum(i.size for i in self.added)
        out.append(f"{len(self.added)} added ({_size(total)}), {len(self.present)} already "
                   f"in the bundle, {len(self.undecided)} decided only at run time")  # fmt: skip
        return out


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _digest(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def python_facts() -> dict[str, Any]:
    """The Python that runs cm-snakemake here, as ``pip download`` targets one: version,
    implementation, ABI and the platform tags its wheels may have (most specific first)."""
    import sys

    from packaging import tags

    best = next(iter(tags.sys_tags()))
    return {
        "executable": sys.executable,
        "version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "implementation": tags.interpreter_name(),
        "abi": best.abi,
        "platforms": list(dict.fromkeys(tags.platform_tags())),
    }


def pip_target(facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Python a facts file records (``python``: version, implementation, abi,
    platforms), as ``pip download`` options take it."""
    python = (facts or {}).get("python")
    if not isinstance(python, dict) or not python.get("version"):
        raise PrefetchError(
            "the facts file names no Python (no 'python' entry: written by an older "
            "cm-snakemake), so pip would fetch wheels for this machine instead",
            hint="Write it again on the target: cm-snakemake facts --out=FILE.",
        )
    return {k: python[k] for k in ("version", "implementation", "abi", "platforms")
            if python.get(k)}  # fmt: skip


def prefetch(
    needs: list[NetworkNeed],
    bundle: Bundle,
    *,
    target: Mapping[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> PrefetchReport:
    """Fetch every known need the bundle lacks into it."""
    report = PrefetchReport()
    if not target:  # this machine's Python
        target = pip_target({"python": python_facts()}) | {"here": True}
    wanted = {k: v for k, v in target.items() if k != "here"}
    if any(n.kind == "pip" for n in needs if n.known):
        had = {k: v for k, v in bundle.pip_target.items() if k != "here"}
        if had and had != wanted:
            raise PrefetchError(
                f"the bundle {bundle.root} holds pip packages for another Python "
                f"({bundle.pip_target.get('version')} on "
                f"{(bundle.pip_target.get('platforms') or ['?'])[0]})",
                hint="Use one bundle per target machine kind (a new --out folder).",
            )
        bundle.pip_target = dict(target)
    pip_options = {} if target.get("here") else wanted
    seen: set[tuple[str, str, str]] = set()
    for need in needs:
        if (need.kind, need.what, need.detail) in seen:
            continue
        seen.add((need.kind, need.what, need.detail))
        if not need.known:
            report.undecided.append(need)
            continue
        have = bundle.find(need)
        if have is not None:
            if need.alias not in have.scripts:
                have = dataclasses.replace(have, scripts=(*have.scripts, need.alias))
                bundle.add(have)
            report.present.append(have)
            continue
        if reporter is not None:
            reporter.stage("prefetch", f"{need.kind} {need.what}")
        fetch = {"download": _download, "git": _git, "pip": _pip}[need.kind]
        item = fetch(need, bundle, pip_options)
        bundle.add(item)
        report.added.append(item)
    bundle.save()
    return report


def _download(need: NetworkNeed, bundle: Bundle, target: Mapping[str, Any]) -> Item:
    url = need.what
    wanted = wanted_checksum(need.detail)
    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    folder = bundle.path("files")
    os.makedirs(folder, exist_ok=True)
    part = os.path.join(folder, f".{name}.{os.getpid()}.part")
    try:
        scheme = urllib.parse.urlparse(url).scheme
        if scheme not in ("http", "https", "file"):
            raise PrefetchError(f"{need.alias}: {url}: unsupported URL scheme {scheme!r}")
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
        sha256 = _digest(part, "sha256")
        if wanted:
            algorithm, expected = wanted.split(":", 1)
            actual = sha256 if algorithm == "sha256" else _digest(part, algorithm)
            if actual != expected.lower():
                raise PrefetchError(
                    f"{need.alias}: {url}: {algorithm.upper()} is {actual}, the plan expects "
                    f"{expected}",
                    hint="Check the URL and the checksum the script is given; nothing was "
                    "added to the bundle.",
                )
        final = os.path.join("files", f"{sha256[:16]}-{name}")
        os.replace(part, bundle.path(final))
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise PrefetchError(
            f"{need.alias}: cannot download {url}: {getattr(exc, 'reason', exc)}",
            hint="prefetch runs where the network is; the items fetched so far are kept.",
        ) from None
    finally:
        if os.path.exists(part):
            os.remove(part)
    return Item("download", url, final, os.path.getsize(bundle.path(final)), checksum=wanted,
                sha256=sha256, scripts=(need.alias,), fetched=_now())  # fmt: skip


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PrefetchError(
            f"{what}: cannot start {command[0]}: {exc.strerror or exc}",
            hint=f"Install {command[0]} on this machine.",
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise PrefetchError(f"{what} failed ({' '.join(command[:4])} ...):\n{tail}",
                            hint="The items fetched so far are kept; run prefetch again "
                            "once the cause is fixed.")  # fmt: skip


def _folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _git(need: NetworkNeed, bundle: Bundle, target: Mapping[str, Any]) -> Item:
    url = need.what
    slug = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = os.path.basename(url.rstrip("/")).removesuffix(".git") or "repo"
    final = os.path.join("git", f"{name}-{slug}.git")
    tmp = bundle.path(final + f".{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(bundle.path("git"), exist_ok=True)
    try:
        _run(["git", "clone", "--quiet", "--mirror", url, tmp], f"{need.alias}: git clone {url}")
        revision = "" if need.detail == "default branch" else need.detail
        if revision:
            _run(["git", "-C", tmp, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                 f"{need.alias}: revision {revision} of {url}")  # fmt: skip
        # the new clone replaces an older mirror only now that it has what was asked
        shutil.rmtree(bundle.path(final), ignore_errors=True)
        os.replace(tmp, bundle.path(final))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Item("git", url, final, _folder_size(bundle.path(final)), revision=revision,
                scripts=(need.alias,), fetched=_now())  # fmt: skip


def _pip_options(target: Mapping[str, Any]) -> list[str]:
    if not target:
        return ["--prefer-binary"]
    options = ["--only-binary=:all:", "--python-version", str(target["version"])]
    if target.get("implementation"):
        options += ["--implementation", str(target["implementation"])]
    if target.get("abi"):
        options += ["--abi", str(target["abi"])]
    for platform_tag in target.get("platforms", ()):
        options += ["--platform", str(platform_tag)]
    return options


def _pip(need: NetworkNeed, bundle: Bundle, target: Mapping[str, Any]) -> Item:
    folder = bundle.pip_dir
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".download-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        # files already in the bundle are taken from it (--find-links), so the folder gets the
        # requirement's whole set; nothing lands in pip/ before pip is done with it
        command = [sys.executable, "-m", "pip", "download", "--quiet",
                   "--disable-pip-version-check", "--dest", tmp, "--find-links", folder,
                   *_pip_options(target), need.what]  # fmt: skip
        _run(command, f"{need.alias}: pip download {need.what}")
        files: list[dict[str, Any]] = []
        for name in sorted(os.listdir(tmp)):
            final = os.path.join(folder, name)
            if not os.path.exists(final):
                os.replace(os.path.join(tmp, name), final)
            files.append({"path": os.path.join("pip", name), "sha256": _digest(final, "sha256"),
                          "size": os.path.getsize(final)})  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Item("pip", need.what, "pip", sum(int(f["size"]) for f in files), files=tuple(files),
                scripts=(need.alias,), fetched=_now())  # fmt: skip
