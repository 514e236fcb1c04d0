"""A prefetch bundle: the files, git repositories and pip packages a plan fetches, in one
folder with a manifest, and how a run uses it instead of the network.

Layout::

    BUNDLE/manifest.json     what is here: kind, where from, checksum, size, path
    BUNDLE/files/            downloads, named <sha256 prefix>-<file name>
    BUNDLE/git/              bare mirrors of git repositories (git clone --mirror)
    BUNDLE/pip/              wheels (and sdists) from pip download

A run with a bundle (``--offline=BUNDLE``, ``CMSM_OFFLINE``, config ``cm_offline``) checks
every need the plan knows before anything runs (:meth:`Bundle.missing`), and gives each
fetching script its item (:meth:`Bundle.apply`): a download's local file, a git clone's
mirror, pip's ``--no-index --find-links``. A need the bundle lacks is an
:class:`OfflineMissing` error naming the script, the item and the prefetch command.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CMSnakemakeError
from ..plan.network import NetworkNeed, needs_of, package_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, MutableMapping

    from ..plan.model import Plan

__all__ = ["MANIFEST", "Bundle", "Item", "OfflineMissing", "check_offline", "wanted_checksum"]

MANIFEST = "manifest.json"
FORMAT = 1


class OfflineMissing(CMSnakemakeError):
    """Needs of a plan that the offline bundle does not hold."""

    def __init__(self, bundle: str, missing: list[NetworkNeed], request: str = "") -> None:
        lines = [f"  {n.alias}: {n.kind} {n.what}" + (f" ({n.detail})" if n.detail else "")
                 for n in missing]  # fmt: skip
        command = (f'cm-snakemake prefetch "{request}" --out={bundle}' if request
                   else f"cm-snakemake prefetch REQUEST --out={bundle} (or the workflow's "
                   f"prefetch target with --config prefetch_out={bundle})")  # fmt: skip
        super().__init__(
            f"offline run: the bundle {bundle} lacks {len(missing)} item(s) the plan fetches; "
            "nothing was run and nothing tried the network:\n" + "\n".join(lines),
            hint=f"On a machine with network, add them with: {command}; then carry the "
            "bundle here again (a second prefetch only adds what is missing).",
        )
        self.missing = missing


def wanted_checksum(detail: str) -> str:
    """``md5:…`` or ``sha256:…`` from a download need's detail; ``""`` without one."""
    first = detail.split(";", 1)[0].strip()
    return first if first.startswith(("md5:", "sha256:")) else ""


@dataclass(frozen=True)
class Item:
    """One entry of the manifest."""

    kind: str  # download | git | pip
    source: str  # URL, git URL, or pip requirement
    path: str  # relative to the bundle ("" for pip: see files)
    size: int
    checksum: str = ""  # download: the checksum the plan asked for (md5:… / sha256:…)
    sha256: str = ""  # download: of the file
    revision: str = ""  # git: the revision the plan asked for
    files: tuple[dict[str, Any], ...] = ()  # pip: {path, sha256, size} of each file
    scripts: tuple[str, ...] = ()  # the scripts that need it
    fetched: str = ""  # when (UTC)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "source": self.source, "path": self.path,
                                "size": self.size, "scripts": list(self.scripts),
                                "fetched": self.fetched}  # fmt: skip
        if self.kind == "download":
            data.update(checksum=self.checksum, sha256=self.sha256)
        elif self.kind == "git":
            data["revision"] = self.revision
        else:
            data["files"] = list(self.files)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        return cls(
            kind=str(data["kind"]), source=str(data["source"]), path=str(data.get("path", "")),
            size=int(data.get("size", 0)), checksum=str(data.get("checksum", "")),
            sha256=str(data.get("sha256", "")), revision=str(data.get("revision", "")),
            files=tuple(dict(f) for f in data.get("files", ())),
            scripts=tuple(str(s) for s in data.get("scripts", ())),
            fetched=str(data.get("fetched", "")),
        )  # fmt: skip


@dataclass
class Bundle:
    """A bundle folder and its manifest (read at open, written by :meth:`save`)."""

    root: str
    items: list[Item] = field(default_factory=list)
    pip_target: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str, *, create: bool = False) -> Bundle:
        root = os.path.abspath(os.path.expanduser(root))
        path = os.path.join(root, MANIFEST)
        if not os.path.isfile(path):
            if create:
                return cls(root)
            what = "does not exist" if not os.path.exists(root) else f"has no {MANIFEST}"
            raise CMSnakemakeError(
                f"offline bundle {root} {what}",
                hint="Make it on a machine with network: cm-snakemake prefetch REQUEST "
                f"--out={root}, and copy the whole folder here.",
            )
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            items = [Item.from_json(i) for i in data.get("items", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CMSnakemakeError(
                f"offline bundle {root}: {MANIFEST} cannot be read: {exc}",
                hint="Make the bundle again with cm-snakemake prefetch (it keeps the files "
                "already there only when the manifest names them).",
            ) from None
        return cls(root, items, dict(data.get("pip_target") or {}))

    def save(self) -> None:
        """Write the manifest atomically (a prefetch saves after each item it adds)."""
        os.makedirs(self.root, exist_ok=True)
        data = {"format": FORMAT, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "pip_target": self.pip_target,
                "items": [i.to_json() for i in self.items]}  # fmt: skip
        path = os.path.join(self.root, MANIFEST)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)

    def add(self, item: Item) -> None:
        self.items = [i for i in self.items if (i.kind, i.source) != (item.kind, item.source)]
        self.items.append(item)
        self.save()

    def path(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    @property
    def pip_dir(self) -> str:
        return self.path("pip")

    # -- lookups --------------------------------------------------------------------------

    def find(self, need: NetworkNeed) -> Item | None:
        """The item that answers a need, or ``None`` (its file gone counts as missing)."""
        for item in self.items:
            if item.kind != need.kind:
                continue
            if need.kind == "pip":  # the same requirement, constraints included
                if _requirement(item.source) == _requirement(need.what) and all(
                    _sized(self.path(f["path"]), int(f["size"])) for f in item.files
                ):  # fmt: skip
                    return item
                continue
            if item.source != need.what or not os.path.exists(self.path(item.path)):
                continue
            if need.kind == "download":
                if not _sized(self.path(item.path), item.size):
                    continue  # truncated on its way here
                wanted = wanted_checksum(need.detail).lower()
                if wanted and wanted not in (item.checksum.lower(), f"sha256:{item.sha256}"):
                    continue
            if need.kind == "git" and need.detail not in ("default branch", item.revision):
                if not _has_revision(self.path(item.path), need.detail):
                    continue
            return item
        return None

    def missing(self, needs: Iterable[NetworkNeed]) -> list[NetworkNeed]:
        """The needs the plan knows that the bundle does not answer (run-time ones are
        checked when they are decided)."""
        return [n for n in needs if n.known and self.find(n) is None]

    def apply(self, key: str, alias: str, env: MutableMapping[str, Any],
              versions: Mapping[str, Any], prefix: str, request: str = "") -> None:  # fmt: skip
        """Point one script call at the bundle: its download's local file, its clone's
        mirror, pip at the bundle's packages; :class:`OfflineMissing` when it lacks one."""
        env["PIP_NO_INDEX"] = "1"
        env["PIP_FIND_LINKS"] = self.pip_dir
        needs = needs_of(key, alias, env, versions)
        missing = [n for n in needs if self.find(n) is None]
        if missing:
            raise OfflineMissing(self.root, missing, request)
        for need in needs:
            item = self.find(need)
            assert item is not None
            if need.kind == "download":
                env[f"{prefix}DOWNLOAD_LOCAL_FILE_PATH"] = self.path(item.path)
            elif need.kind == "git":
                env[f"{prefix}GIT_URL"] = self.path(item.path)


def _requirement(text: str) -> str:
    """A requirement compared as pip would: the normalized name, then the rest unspaced."""
    raw = re.split(r"[\s\[<>=!~;@,(]", text.strip(), maxsplit=1)[0]
    return package_name(raw) + text.strip()[len(raw) :].replace(" ", "")


def _sized(path: str, size: int) -> bool:
    return os.path.isfile(path) and os.path.getsize(path) == size


def _has_revision(mirror: str, revision: str) -> bool:
    import subprocess

    done = subprocess.run(
        ["git", "-C", mirror, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


def check_offline(plans: Iterable[Plan], root: str, request: str = "") -> Bundle:
    """The bundle at ``root``, after checking that it answers every need the plans know:
    :class:`OfflineMissing` (before anything runs) when it does not."""
    from ..plan.network import network_needs

    bundle = Bundle.open(root)
    missing: dict[tuple[str, str, str], NetworkNeed] = {}
    for plan in plans:
        for need in bundle.missing(network_needs(plan)):
            missing.setdefault((need.kind, need.what, need.detail), need)
    if missing:
        raise OfflineMissing(bundle.root, list(missing.values()), request)
    return bundle
