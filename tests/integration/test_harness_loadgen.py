"""The bundled harness (app-mlperf-inference-onnx) against real LoadGen: its Server target
search, on a system under test whose cost per query the test controls (the chosen target is
VALID and one 20% higher is not), and its query sample library, which holds in memory only
the samples LoadGen loaded.

The search measures the machine: on one whose cores are all taken by other work its verdicts
move with that work."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import mlperf_loadgen as lg
import numpy as np
import pytest

HARNESS = (
    Path(__file__).resolve().parents[2]
    / "cm_snakemake/repo/script/app-mlperf-inference-onnx/harness.py"
)
COST_S = 0.0005  # per query: capacity about 1,800 queries/s, far below ResNet50's 15 ms bound


def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cmsm_onnx_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loadgen_parts() -> Iterator[tuple[Any, Any]]:
    """A system under test answering each query after COST_S, one query at a time (as the
    harness's does), and a library of 1,024 samples."""

    def issue(samples: list[Any]) -> None:
        for _ in samples:
            time.sleep(COST_S)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(1024, 1024, lambda _: None, lambda _: None)
    yield sut, qsl
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


def test_the_chosen_server_target_is_valid_and_twenty_percent_more_is_not(
    loadgen_parts: Any,
) -> None:
    h = harness()
    sut, qsl = loadgen_parts
    probe = h.loadgen_probe(sut, qsl, "Server", "resnet50")
    confirm = h.loadgen_probe(sut, qsl, "Server", "resnet50", duration_ms=2000)
    rate, probes = h.search_server_target(probe, 1 / COST_S, confirm=confirm)
    assert rate is not None, probes
    assert len(probes) <= h.SERVER_MAX_PROBES + 4
    assert {p.bound_ms for p in probes} == {15.0}  # ResNet50's bound, from LoadGen's mlperf.conf
    # judged as a submission would be: LoadGen's own verdict, early stopping included,
    # over runs six times as long as the search's
    judge = h.loadgen_probe(sut, qsl, "Server", "resnet50", duration_ms=3000, min_queries=1000)
    chosen, higher = judge(rate), judge(1.2 * rate)
    assert chosen.valid and chosen.latency_ms <= 15.0, (rate, chosen, probes)
    assert not higher.valid and higher.latency_ms > 15.0, (rate, higher, probes)


def test_a_query_slower_than_the_bound_ends_the_search_without_a_target() -> None:
    h = harness()
    seen: list[float] = []

    def probe(rate: float) -> Any:
        seen.append(rate)
        return h.Probe(rate, False, latency_ms=40.0, fastest_ms=20.0, mean_ms=30.0, bound_ms=15.0)

    rate, probes = h.search_server_target(probe, 100.0)
    assert rate is None
    assert seen == [100.0]  # one query alone is over the bound: no lower rate is tried
    assert len(probes) == 1


def test_the_search_brackets_then_bisects_to_its_precision() -> None:
    h = harness()
    capacity = 1234.0

    def probe(rate: float) -> Any:
        ok = rate <= capacity
        return h.Probe(rate, ok, latency_ms=1.0 if ok else 99.0, fastest_ms=0.1, mean_ms=1.0,
                       bound_ms=15.0)  # fmt: skip

    rate, probes = h.search_server_target(probe, 100.0, max_probes=40)
    highest_valid = max(p.target for p in probes if p.valid)
    lowest_invalid = min(p.target for p in probes if not p.valid)
    assert highest_valid <= capacity < lowest_invalid
    assert lowest_invalid / highest_valid <= h.SERVER_PRECISION
    assert rate == pytest.approx(h.SERVER_MARGIN * highest_valid)


def test_the_sample_library_holds_only_what_loadgen_loaded(tmp_path: Path) -> None:
    h = harness()
    np.save(tmp_path / "val_x.npy", np.arange(400, dtype=np.float32).reshape(100, 4))
    np.save(tmp_path / "val_y.npy", np.arange(100, dtype=np.int64) % 10)
    store = h.SampleStore(str(tmp_path))
    seen: list[int] = []

    def issue(samples: list[Any]) -> None:
        indices = np.array([s.index for s in samples], dtype=np.int64)
        rows = store.batch(indices)
        assert rows.shape == (len(samples), 4)
        seen.extend(int(i) for i in indices)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(100, 20, store.load, store.unload)  # 20 in memory at a time
    try:
        conf = ["*.SingleStream.target_latency = 0.05", "*.SingleStream.min_duration = 200",
                "*.SingleStream.min_query_count = 50"]  # fmt: skip
        h.run_loadgen(sut, qsl, "SingleStream", conf, "cmsm-test", str(tmp_path), "probe")
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    assert seen and store.not_loaded == set()
    assert store.load_calls >= 1 and store.most_resident == 20
    assert store.resident == {}  # LoadGen unloaded what it loaded
    # a query for a sample never loaded is answered from disk and reported
    store.batch(np.array([7], dtype=np.int64))
    assert store.not_loaded == {7}
