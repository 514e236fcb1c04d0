"""Version constraints (docs/cm-behaviour.md §3.6, §3.8, §6)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VersionRequest", "compare_versions", "clamp_default"]


def _parts(version: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in version.strip().split(".")]


def compare_versions(a: str, b: str) -> int:
    """Compare dotted versions as CM does: numeric parts as numbers, missing parts as 0.

    Unlike CM, a part mixing digits and letters (``1.0rc1``) is compared as text against text
    and is smaller than a number, instead of raising ``TypeError``.
    """
    pa, pb = _parts(a), _parts(b)
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else 0
        y = pb[i] if i < len(pb) else 0
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, int) != isinstance(y, int):
            return 1 if isinstance(x, int) else -1
        return -1 if str(x) < str(y) else 1
    return 0


@dataclass(frozen=True, slots=True)
class VersionRequest:
    """The four constraints of one run, each from input, env or meta in that priority."""

    version: str = ""
    version_min: str = ""
    version_max: str = ""
    version_max_usable: str = ""

    def is_empty(self) -> bool:
        return not (self.version or self.version_min or self.version_max or self.version_max_usable)

    def allows(self, version: str) -> bool:
        """Whether a detected ``version`` satisfies these constraints (an unknown one does
        only when there are none)."""
        if not version:
            return self.is_empty()
        if self.version and compare_versions(version, self.version) != 0:
            return False
        if self.version_min and compare_versions(version, self.version_min) < 0:
            return False
        return not (self.version_max and compare_versions(version, self.version_max) > 0)

    def impossible(self) -> str | None:
        """Say why no version can satisfy these constraints, or None."""
        if self.version_min and self.version_max:
            if compare_versions(self.version_min, self.version_max) > 0:
                return f"version_min {self.version_min} is above version_max {self.version_max}"
        if self.version:
            if self.version_min and compare_versions(self.version, self.version_min) < 0:
                return f"version {self.version} is below version_min {self.version_min}"
            if self.version_max and compare_versions(self.version, self.version_max) > 0:
                return f"version {self.version} is above version_max {self.version_max}"
        return None


def clamp_default(default: str, request: VersionRequest) -> str:
    """CM's clamping of ``default_version``: up to min, down to max (or max_usable)."""
    if request.version_min and compare_versions(default, request.version_min) < 0:
        return request.version_min
    if request.version_max and compare_versions(default, request.version_max) > 0:
        return request.version_max_usable or request.version_max
    return default
