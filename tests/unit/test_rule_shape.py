"""Where a compiled rule runs on a cluster: on the submit host (detection, network scripts),
in the group of short jobs, or as its own job; and the config keys that change it."""

from __future__ import annotations

from typing import Any

from cm_snakemake.compile.workflow import TINY_GROUP, RuleSpec


def _spec(alias: str, *runtimes: str | None) -> RuleSpec:
    nodes: dict[str, dict[str, Any]] = {
        f"{i:032x}": {"resources": {} if r is None else {"runtime": r}}
        for i, r in enumerate(runtimes or (None,))
    }
    return RuleSpec(f"cm_{alias}", alias, True, "out/{key}.json",
                    alias.startswith("detect-"), nodes)  # fmt: skip


def test_detection_and_network_scripts_run_on_the_submit_host() -> None:
    assert _spec("detect-os").is_local({})
    assert _spec("download-file-verified").is_local({})
    assert _spec("get-python-package").is_local({})
    assert _spec("get-git-repo").is_local({})
    assert not _spec("app-mlperf-inference-onnx", "30").is_local({})
    # --config values arrive as text
    off = {"cm_localrules": "false", "cm_network_on_submit_host": "false"}
    assert not _spec("detect-os").is_local(off)
    assert not _spec("download-file-verified").is_local(off)
    assert _spec("download-file-verified").is_local({"cm_localrules": False})


def test_short_cluster_jobs_are_grouped() -> None:
    remote = {"cm_localrules": "false", "cm_network_on_submit_host": "no"}
    assert _spec("detect-cpu").group(remote) == TINY_GROUP
    assert _spec("detect-cpu").group({}) is None  # it runs on the submit host
    assert _spec("get-dataset-digits", "5", "10").group(remote) == TINY_GROUP
    assert _spec("get-dataset-digits", "5", "11").group(remote) is None  # one node is long
    assert _spec("get-dataset-digits", "5", None).group(remote) is None  # one says nothing
    assert _spec("get-dataset-digits", "30").group({**remote, "cm_tiny_minutes": 30}) == (
        TINY_GROUP)  # fmt: skip
    assert _spec("app-mlperf-inference-onnx", "30").group(remote) is None
    assert _spec("get-dataset-digits", "5").group({**remote, "cm_group_tiny": "false"}) is None
    assert _spec("get-python-package", "10").group({}) is None  # local: never grouped
