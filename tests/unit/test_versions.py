"""Version comparison and default-version clamping (docs/cm-behaviour.md §3.8, §6.1)."""

from __future__ import annotations

import pytest

from cm_snakemake.plan.versions import VersionRequest, clamp_default, compare_versions


@pytest.mark.parametrize(
    ("a", "b", "result"),
    [
        ("3.9", "3.9.0", 0),
        ("3.10", "3.9", 1),
        ("1.2", "1.10", -1),
        ("2.0", "2", 0),
        ("1.0rc1", "1.0.1", -1),
        ("master", "master", 0),
    ],
)
def test_compare(a: str, b: str, result: int) -> None:
    assert compare_versions(a, b) == result


def test_clamping_as_cm_probes_showed() -> None:
    assert clamp_default("2.0", VersionRequest(version_min="3.0")) == "3.0"
    assert (
        clamp_default("2.0", VersionRequest(version_max="1.5", version_max_usable="1.4")) == "1.4"
    )
    assert clamp_default("2.0", VersionRequest(version_max="1.5")) == "1.5"
    assert clamp_default("2.0", VersionRequest(version_min="1.0", version_max="3.0")) == "2.0"


def test_impossible_requests() -> None:
    assert "above version_max" in (
        VersionRequest(version_min="3", version_max="2").impossible() or ""
    )
    assert "below version_min" in (VersionRequest(version="1", version_min="2").impossible() or "")
    assert VersionRequest(version="2", version_min="1", version_max="3").impossible() is None
