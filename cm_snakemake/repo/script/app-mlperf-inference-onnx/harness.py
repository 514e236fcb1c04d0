"""LoadGen harness: an onnxruntime classifier as the MLPerf system under test.

Reads its settings from the environment (see ``_cm.yaml``), writes into the current folder:
``mlperf/<model>/<scenario>/<mode>/`` with LoadGen's logs, ``user.conf``, ``result.json`` and,
in accuracy mode, ``accuracy.txt`` and ``accuracy.json``; and exports the figures through
``tmp-run-env.out``.

Targets not given are measured: Offline's from a short timing of the model (a valid run's
from a short LoadGen Offline run), Server's by a
search of short LoadGen Server runs (the highest rate whose 99th percentile latency meets the
benchmark's bound, less a margin), MultiStream's and SingleStream's from the mean latency of a
short LoadGen run of the scenario. The benchmark's constraints (latency bounds, sample counts,
durations) are LoadGen's, from its mlperf.conf for ``CM_MLPERF_LOADGEN_MODEL``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING, Any

import mlperf_loadgen as lg
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

SCENARIOS = {
    "offline": lg.TestScenario.Offline,
    "server": lg.TestScenario.Server,
    "singlestream": lg.TestScenario.SingleStream,
    "multistream": lg.TestScenario.MultiStream,
}
CANONICAL = {"offline": "Offline", "server": "Server", "singlestream": "SingleStream",
             "multistream": "MultiStream"}  # fmt: skip
MULTI_STREAM_SAMPLES = 8  # samples per query in MultiStream, as MLPerf's rules fix it
TEST_MIN_DURATION_MS = 1000
TEST_MIN_QUERY_COUNT = 64
PROBE_DURATION_MS = 500  # each LoadGen run of a target search
PROBE_MIN_QUERIES = 200
SERVER_MARGIN = 0.9  # the Server target: this fraction of the highest rate that met the bound
SERVER_PRECISION = 1.05  # the search stops when its bracket is this narrow (a ratio)
SERVER_MAX_PROBES = 12
COMPLETE_CHUNK = 65536  # samples answered per QuerySamplesComplete call
# what LoadGen, its Python binding and the harness hold per sample of an Offline query
# (measured: about 205 bytes, 10.0 GB for a 600 s run of 48.8 million samples; with a margin)
BYTES_PER_OFFLINE_SAMPLE = 220
OFFLINE_MARGIN = 1.15  # a valid Offline target: this times the throughput of a short run
LATENCY_MARGIN = 0.7  # SingleStream, MultiStream: the target, a fraction of the mean latency


class HarnessError(Exception):
    pass


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@dataclass
class Settings:
    model_name: str
    model_file: str
    dataset: str
    scenario: str  # canonical spelling: Offline, Server, SingleStream, MultiStream
    mode: str  # performance | accuracy
    run_style: str  # test | valid
    threads: int
    target_qps: float | None
    target_latency_ms: float | None
    min_duration_ms: int | None
    min_query_count: int | None
    user_conf: str
    loadgen_model: str  # the benchmark whose rules of mlperf.conf LoadGen applies
    max_batchsize: int

    @classmethod
    def from_env(cls) -> Settings:
        scenario = env("CM_MLPERF_LOADGEN_SCENARIO", "Offline")
        if scenario.lower() not in SCENARIOS:
            raise HarnessError(
                f"CM_MLPERF_LOADGEN_SCENARIO={scenario!r}: expected one of "
                + ", ".join(CANONICAL.values())
            )
        mode = env("CM_MLPERF_LOADGEN_MODE", "performance").lower()
        if mode not in ("performance", "accuracy"):
            raise HarnessError(f"CM_MLPERF_LOADGEN_MODE={mode!r}: expected performance or accuracy")
        style = env("CM_MLPERF_RUN_STYLE", "test").lower()
        if style not in ("test", "valid"):
            raise HarnessError(f"CM_MLPERF_RUN_STYLE={style!r}: expected test or valid")
        model_file = env("CM_ML_MODEL_FILE_WITH_PATH")
        dataset = env("CM_DATASET_PATH")
        if not model_file or not os.path.isfile(model_file):
            raise HarnessError(f"no model file (CM_ML_MODEL_FILE_WITH_PATH={model_file!r})")
        if not dataset or not os.path.isfile(os.path.join(dataset, "val_x.npy")):
            raise HarnessError(
                f"no preprocessed dataset: CM_DATASET_PATH={dataset!r} has no val_x.npy"
            )
        return cls(
            model_name=env("CM_ML_MODEL_NAME") or os.path.splitext(os.path.basename(model_file))[0],
            model_file=model_file,
            dataset=dataset,
            scenario=CANONICAL[scenario.lower()],
            mode=mode,
            run_style=style,
            threads=int(env("CM_MLPERF_THREADS", "1") or 1),
            target_qps=_number(env("CM_MLPERF_LOADGEN_TARGET_QPS")),
            target_latency_ms=_number(env("CM_MLPERF_LOADGEN_TARGET_LATENCY")),
            min_duration_ms=_int(env("CM_MLPERF_LOADGEN_MIN_DURATION")),
            min_query_count=_int(env("CM_MLPERF_LOADGEN_MIN_QUERY_COUNT")),
            user_conf=env("CM_MLPERF_USER_CONF"),
            loadgen_model=env("CM_MLPERF_LOADGEN_MODEL") or "resnet50",
            max_batchsize=int(env("CM_MLPERF_MAX_BATCHSIZE", "256") or 256),
        )


def _number(text: str) -> float | None:
    return float(text) if text else None


def _int(text: str) -> int | None:
    return int(float(text)) if text else None


class SampleStore:
    """The query sample library's samples. The dataset stays on disk (memory-mapped); a sample
    is in memory from LoadGen's load call for it to its unload call. A query for a sample that
    is not loaded is answered (from disk) and reported after the run."""

    def __init__(self, dataset: str) -> None:
        self.disk = np.load(os.path.join(dataset, "val_x.npy"), mmap_mode="r")
        self.labels = np.load(os.path.join(dataset, "val_y.npy"))
        if len(self.disk) != len(self.labels):
            raise HarnessError(
                f"{dataset}: val_x.npy has {len(self.disk)} samples, val_y.npy "
                f"{len(self.labels)} labels"
            )
        self.resident: dict[int, np.ndarray] = {}
        self.not_loaded: set[int] = set()
        self.load_calls = 0
        self.most_resident = 0

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, indices: Sequence[int]) -> None:
        self.load_calls += 1
        for index in indices:
            self.resident[int(index)] = np.array(self.disk[int(index)])
        self.most_resident = max(self.most_resident, len(self.resident))

    def unload(self, indices: Sequence[int]) -> None:
        for index in indices:
            self.resident.pop(int(index), None)

    def batch(self, indices: np.ndarray) -> np.ndarray:
        rows = []
        for index in indices.tolist():
            row = self.resident.get(index)
            if row is None:
                self.not_loaded.add(index)
                row = np.asarray(self.disk[index])
            rows.append(row)
        return np.stack(rows)

    def report(self) -> dict[str, int]:
        return {
            "samples": len(self),
            "load_calls": self.load_calls,
            "most_resident": self.most_resident,
        }


class Classifier:
    """The system under test: one onnxruntime session, answering with the top-1 class."""

    def __init__(self, settings: Settings, store: SampleStore) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            settings.model_file, options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        # the output holding scores (N x classes) or classes (N); the first one by default
        output = env("CM_ML_MODEL_OUTPUT_NAME")
        self.outputs = [output] if output else None
        self.label_offset = int(env("CM_ML_MODEL_LABEL_OFFSET", "0") or 0)
        self.batch = max(1, settings.max_batchsize)
        self.store = store

    def predict(self, indices: np.ndarray) -> np.ndarray:
        """Top-1 classes of the samples, in batches of at most ``self.batch`` (a query of
        the Offline scenario holds every sample of the run)."""
        parts = [
            self._classes(indices[i : i + self.batch]) for i in range(0, len(indices), self.batch)
        ]
        classes = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.ascontiguousarray(classes - self.label_offset)

    def _classes(self, indices: np.ndarray) -> np.ndarray:
        out = self.session.run(self.outputs, {self.input_name: self.store.batch(indices)})[0]
        classes = out.argmax(axis=1) if out.ndim == 2 else out.reshape(len(indices))
        return classes.astype(np.int64)

    def issue(self, samples: list[Any]) -> None:
        """Answer a query, in parts of at most COMPLETE_CHUNK samples (an Offline query of a
        valid run holds millions)."""
        for start in range(0, len(samples), COMPLETE_CHUNK):
            part = samples[start : start + COMPLETE_CHUNK]
            indices = np.fromiter((s.index for s in part), dtype=np.int64, count=len(part))
            classes = self.predict(indices)
            base = classes.ctypes.data
            size = classes.itemsize
            lg.QuerySamplesComplete(
                [lg.QuerySampleResponse(s.id, base + i * size, size) for i, s in enumerate(part)]
            )

    def measure(self) -> dict[str, float]:
        """A short timing of the model (inference plus building the responses) on the first
        64 samples, loaded for it: the Offline target, and the first guesses of the others.
        Bounded in time for big models: batches for 0.3 s, then up to 20 timed queries of
        each size (or half a second)."""
        count = min(len(self.store), 64)
        probe = np.arange(count, dtype=np.int64)
        self.store.load(probe.tolist())
        try:
            self.predict(probe[:1])  # warm up
            start, done = time.perf_counter(), 0
            while time.perf_counter() - start < 0.3:
                classes = self.predict(probe)
                [lg.QuerySampleResponse(i, classes.ctypes.data, 8) for i in range(len(probe))]
                done += len(probe)
            throughput = done / (time.perf_counter() - start)
            latencies = []
            for batch in (1, MULTI_STREAM_SAMPLES):
                runs: list[float] = []
                began = time.perf_counter()
                while len(runs) < 20 and (len(runs) < 3 or time.perf_counter() - began < 0.5):
                    first = len(runs) % count
                    t = time.perf_counter()
                    self.predict(np.arange(first, first + batch, dtype=np.int64) % count)
                    runs.append(time.perf_counter() - t)
                latencies.append(float(np.percentile(runs, 90)))
        finally:
            self.store.unload(probe.tolist())
        return {
            "throughput_qps": throughput,
            "single_latency_s": latencies[0],
            "multi_latency_s": latencies[1],
        }


def run_loadgen(
    sut: Any,
    qsl: Any,
    scenario: str,
    conf_lines: Sequence[str],
    loadgen_model: str,
    outdir: str,
    kind: str = "performance",
) -> dict[str, Any]:
    """One LoadGen run: ``conf_lines`` written as ``outdir/user.conf`` over the benchmark's
    rules of LoadGen's mlperf.conf; returns the records of its detail log. ``kind``:
    performance, accuracy, or probe (a performance run of a target search).

    LoadGen reads its mlperf.conf with the first user.conf of a process only and logs an
    error (not valid for a submission) for every later one. So a probe, run before the
    measured run, loads mlperf.conf and its user.conf as two plain configuration files, which
    LoadGen does not count."""
    probe = kind == "probe"
    conf = os.path.join(outdir, "user.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write("\n".join(conf_lines) + "\n")
    test = lg.TestSettings()
    test.scenario = SCENARIOS[scenario.lower()]
    accuracy = kind == "accuracy"
    test.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    if probe:
        test.FromConfig("", loadgen_model, scenario, 0)  # the built-in mlperf.conf
    if test.FromConfig(conf, loadgen_model, scenario, 2 if probe else 1) != 0:
        raise HarnessError(f"LoadGen could not read {conf}")
    if scenario == "Offline" and not accuracy:
        _check_offline_memory(test)
    log = lg.LogSettings()
    log.log_output.outdir = outdir
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, test, log)
    return read_detail_log(os.path.join(outdir, "mlperf_log_detail.txt"))


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_offline_memory(test: Any) -> None:
    """Stop before LoadGen builds an Offline query that cannot fit in memory: it holds every
    sample of the run at once (1.1 x target_qps x min_duration of them)."""
    samples = max(
        int(test.min_query_count),
        int(1.1 * test.offline_expected_qps * test.min_duration_ms / 1000),
    )
    needed = samples * BYTES_PER_OFFLINE_SAMPLE
    available = _available_memory()
    if available is not None and needed > 0.8 * available:
        raise HarnessError(
            f"an Offline run at {test.offline_expected_qps:,.0f} samples/s for "
            f"{test.min_duration_ms / 1000:g} s is one query of {samples:,} samples, about "
            f"{needed / 2**30:.1f} GiB in LoadGen, more than the {available / 2**30:.1f} GiB "
            "available. A valid Offline run of a system this fast needs more memory; a "
            "smaller max_batchsize lowers the throughput, and with it the sample count"
        )


@dataclass(frozen=True)
class Probe:
    """One short LoadGen run of a target search."""

    target: float  # Server: queries per second; MultiStream, SingleStream: latency in ms
    valid: bool  # the latency met the benchmark's bound (LoadGen's performance constraints)
    latency_ms: float  # Server: 99th percentile; MultiStream: 99th per query; SingleStream: 90th
    fastest_ms: float  # the quickest query: above the bound, no rate can meet it
    mean_ms: float  # per query
    bound_ms: float  # Server: the latency bound that LoadGen applied
    throughput: float = 0.0  # samples per second LoadGen measured


PROBE_LATENCY_KEYS = {
    "Offline": "result_90.00_percentile_latency_ns",
    "Server": "result_99.00_percentile_latency_ns",
    "MultiStream": "result_99.00_percentile_per_query_latency_ns",
    "SingleStream": "result_90.00_percentile_latency_ns",
}


def loadgen_probe(
    sut: Any,
    qsl: Any,
    scenario: str,
    loadgen_model: str,
    extra: Sequence[str] = (),
    duration_ms: int = PROBE_DURATION_MS,
    min_queries: int = PROBE_MIN_QUERIES,
) -> Callable[[float], Probe]:
    """A function running one short LoadGen run of ``scenario`` at a target (queries per
    second for Server, latency in ms otherwise), in a folder that is thrown away."""
    key = "target_qps" if scenario in ("Server", "Offline") else "target_latency"

    def probe(target: float) -> Probe:
        lines = [
            f"*.{scenario}.{key} = {target:.4f}",
            *extra,
            f"*.{scenario}.min_duration = {duration_ms}",
            f"*.{scenario}.min_query_count = {min_queries}",
        ]
        with tempfile.TemporaryDirectory(prefix="cmsm-probe-") as folder:
            detail = run_loadgen(sut, qsl, scenario, lines, loadgen_model, folder, "probe")
        # LoadGen's verdict of a run this short would also say that early stopping needs
        # more queries; the search asks only whether the latency met the bound
        return Probe(
            target=target,
            valid=detail.get("result_perf_constraints_met") is True,
            latency_ms=float(detail.get(PROBE_LATENCY_KEYS[scenario]) or 0) * 1e-6,
            fastest_ms=float(detail.get("result_min_latency_ns") or 0) * 1e-6,
            mean_ms=float(detail.get("result_mean_latency_ns") or 0) * 1e-6,
            bound_ms=float(detail.get("requested_server_target_latency_ns") or 0) * 1e-6,
            throughput=float(detail.get("result_samples_per_second") or 0),
        )

    return probe


def search_server_target(
    probe: Callable[[float], Probe],
    guess: float,
    *,
    confirm: Callable[[float], Probe] | None = None,
    margin: float = SERVER_MARGIN,
    precision: float = SERVER_PRECISION,
    max_probes: int = SERVER_MAX_PROBES,
) -> tuple[float | None, list[Probe]]:
    """The Server target: ``margin`` times the highest rate found whose 99th percentile
    latency met the bound, by doubling or quartering from ``guess`` to a bracket, then
    bisecting it (geometrically) to ``precision``; then, with ``confirm`` (longer runs, whose
    tail is nearer a real run's), 5% lower until one of those meets the bound too (at most
    4 times). None when no rate down to ``guess / 1024`` met it, or when a query alone took
    longer than the bound. Returns the probes too, in order."""
    probes: list[Probe] = []
    rate = _bisect_server(probe, guess, probes, precision=precision, max_probes=max_probes)
    if rate is None:
        return None, probes
    rate *= margin
    for _ in range(4 if confirm is not None else 0):
        probes.append(confirm(rate))
        if probes[-1].valid:
            break
        rate *= 0.95
    return rate, probes


def _bisect_server(
    probe: Callable[[float], Probe],
    guess: float,
    probes: list[Probe],
    *,
    precision: float,
    max_probes: int,
) -> float | None:
    """The highest rate of the bracket-and-bisect search whose probe met the bound."""

    def valid(rate: float) -> bool:
        probes.append(probe(rate))
        return probes[-1].valid

    low: float | None = None
    high: float | None = None
    rate = guess
    while len(probes) < max_probes:
        if valid(rate):
            low = rate
            if high is not None:
                break
            rate *= 2
        else:
            high = rate
            if low is not None:
                break
            rate /= 4
            hopeless = probes[-1].bound_ms and probes[-1].fastest_ms > probes[-1].bound_ms
            if hopeless or rate < guess / 1024:
                return None
    if low is None:
        return None
    while high is not None and high / low > precision and len(probes) < max_probes:
        middle = math.sqrt(low * high)
        if valid(middle):
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class Targets:
    """What the runs aim at: given or found, with the search that found them."""

    target_qps: float | None = None
    target_latency_ms: float | None = None
    probes: tuple[Probe, ...] = ()
    note: str = ""


def find_targets(settings: Settings, found: dict[str, float], sut: Any, qsl: Any) -> Targets:
    """The targets of the run's scenario that the settings do not give."""
    scenario = settings.scenario
    extra = []
    if settings.target_latency_ms and scenario == "Server":
        extra.append(f"*.Server.target_latency = {settings.target_latency_ms:g}")
    if settings.user_conf:  # the user's own settings hold for the search's runs too
        with open(settings.user_conf, encoding="utf-8") as fh:
            extra += [line.rstrip("\n") for line in fh if line.strip()]
    if scenario == "Offline":
        # LoadGen issues 1.1 x target_qps x min_duration samples in one query: a run faster
        # than the target ends before min_duration (INVALID), a slower one just runs longer;
        # the measurement may also have shared the CPU with other jobs. So aim high. A valid
        # run's 600 s query holds all its samples in memory at once: its target comes from a
        # short LoadGen Offline run (the throughput LoadGen sees), with a smaller margin.
        if settings.target_qps:
            return Targets(target_qps=settings.target_qps)
        if settings.run_style == "test" or settings.mode == "accuracy":
            return Targets(target_qps=2 * found["throughput_qps"])
        probe = loadgen_probe(
            sut, qsl, "Offline", settings.loadgen_model, extra, duration_ms=2000, min_queries=1
        )(2 * found["throughput_qps"])
        if not probe.throughput:  # LoadGen logged no throughput: aim high, as a test run does
            return Targets(target_qps=2 * found["throughput_qps"], probes=(probe,),
                           note="the Offline probe logged no throughput")  # fmt: skip
        return Targets(target_qps=OFFLINE_MARGIN * probe.throughput, probes=(probe,))
    if settings.mode == "accuracy":
        # every sample once, whatever the target: the measurement's guesses do
        if scenario == "Server":
            return Targets(target_qps=settings.target_qps or 0.5 / found["single_latency_s"])
        guess = found["single_latency_s" if scenario == "SingleStream" else "multi_latency_s"]
        return Targets(target_latency_ms=settings.target_latency_ms or guess * 1000)
    if scenario == "Server":
        if settings.target_qps:
            return Targets(target_qps=settings.target_qps)
        probe = loadgen_probe(sut, qsl, "Server", settings.loadgen_model, extra)
        confirm = loadgen_probe(
            sut, qsl, "Server", settings.loadgen_model, extra, duration_ms=4 * PROBE_DURATION_MS
        )
        rate, probes = search_server_target(probe, 1 / found["single_latency_s"], confirm=confirm)
        if rate is not None and not probes[-1].valid:
            return Targets(target_qps=rate, probes=tuple(probes),
                           note="no confirming run met the latency bound")  # fmt: skip
        if rate is None:
            lowest = min(p.target for p in probes)
            return Targets(
                target_qps=lowest,
                probes=tuple(probes),
                note=f"no rate down to {lowest:.3g} queries/s met the latency bound",
            )
        return Targets(target_qps=rate, probes=tuple(probes))
    given = settings.target_latency_ms
    if given:
        return Targets(target_latency_ms=given)
    guess = found["single_latency_s" if scenario == "SingleStream" else "multi_latency_s"]
    probe = loadgen_probe(sut, qsl, scenario, settings.loadgen_model, extra)(
        max(guess * 1000, 0.001)
    )
    # LoadGen issues about min_duration / target_latency queries, one after the other: a
    # target above the mean latency ends the run before min_duration (INVALID); one below it
    # only runs longer. Aim below the probe's mean, which may have shared the CPU.
    latency = LATENCY_MARGIN * (probe.mean_ms or guess * 1000)
    return Targets(target_latency_ms=latency, probes=(probe,))


def user_conf(settings: Settings, targets: Targets) -> list[str]:
    """The user.conf lines of the run: its targets, then the durations of the run style,
    then the user's own file."""
    s = f"*.{settings.scenario}"
    lines: list[str] = []
    if targets.target_qps is not None:
        lines.append(f"{s}.target_qps = {targets.target_qps:.1f}")
    if targets.target_latency_ms is not None and settings.scenario != "Server":
        lines.append(f"{s}.target_latency = {max(targets.target_latency_ms, 0.001):.4f}")
    if settings.scenario == "Server" and settings.target_latency_ms:
        lines.append(f"{s}.target_latency = {settings.target_latency_ms:g}")  # else mlperf.conf's
    if settings.run_style == "test":
        duration = settings.min_duration_ms or TEST_MIN_DURATION_MS
        queries = settings.min_query_count or TEST_MIN_QUERY_COUNT
        lines += [f"{s}.min_duration = {duration}", f"{s}.min_query_count = {queries}"]
    else:
        if settings.min_duration_ms:
            lines.append(f"{s}.min_duration = {settings.min_duration_ms}")
        if settings.min_query_count:
            lines.append(f"{s}.min_query_count = {settings.min_query_count}")
    if settings.user_conf:
        with open(settings.user_conf, encoding="utf-8") as fh:
            lines += [line.rstrip("\n") for line in fh if line.strip()]
    return lines


def package_version(name: str) -> str:
    try:
        return _dist_version(name)
    except PackageNotFoundError:
        return ""


def read_detail_log(path: str) -> dict[str, Any]:
    """The ``:::MLLOG`` records of LoadGen's detail log, as key -> value (last one wins)."""
    values: dict[str, Any] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(":::MLLOG "):
                record = json.loads(line[len(":::MLLOG ") :])
                values[record["key"]] = record.get("value")
    return values


PRIMARY_METRICS = {  # scenario -> (name, detail log key, scale to the reported unit)
    "Offline": ("samples_per_second", "result_samples_per_second", 1.0),
    "Server": ("scheduled_samples_per_second", "result_scheduled_samples_per_sec", 1.0),
    "SingleStream": ("p90_latency_ms", "result_90.00_percentile_latency_ns", 1e-6),
    "MultiStream": ("p99_query_latency_ms", "result_99.00_percentile_per_query_latency_ns", 1e-6),
}


def primary_metric(scenario: str, detail: dict[str, Any]) -> tuple[str, float]:
    """The figure MLPerf reports for the scenario, in its unit (0 if LoadGen logged none)."""
    name, key, scale = PRIMARY_METRICS[scenario]
    return name, float(detail.get(key) or 0) * scale


def top1(accuracy_log: str, labels: np.ndarray) -> tuple[int, int]:
    """(correct, total) of the responses logged in accuracy mode."""
    with open(accuracy_log, encoding="utf-8") as fh:
        entries = json.load(fh)
    seen: dict[int, bool] = {}
    for entry in entries:
        predicted = int.from_bytes(bytes.fromhex(entry["data"]), "little", signed=True)
        seen[int(entry["qsl_idx"])] = predicted == int(labels[int(entry["qsl_idx"])])
    return sum(seen.values()), len(seen)


def dataset_info(settings: Settings, samples: int) -> dict[str, Any]:
    """What the run's dataset is: its name, its sample count and, when it is a part of a
    benchmark's dataset or stands in for one, that dataset's size, in one readable label."""
    name = env("CM_MLPERF_DATASET_NAME") or os.path.basename(settings.dataset.rstrip("/"))
    full = _int(env("CM_MLPERF_DATASET_FULL_SIZE"))
    stands_in_for = env("CM_MLPERF_DATASET_STANDS_IN_FOR")
    if stands_in_for:
        label = f"{name}: {samples:,} samples (stand-in for {stands_in_for})"
    elif full and samples < full:
        label = f"{name}: subset of {samples:,} of {full:,} samples"
    else:
        label = f"{name}: {samples:,} samples"
    return {
        "name": name,
        "samples": samples,
        "full_size": full,
        "subset": bool(stands_in_for) or bool(full and samples < full),
        "stands_in_for": stands_in_for,
        "label": label,
    }


def run(settings: Settings) -> dict[str, Any]:
    out = os.path.join(os.getcwd(), "mlperf", settings.model_name, settings.scenario, settings.mode)
    os.makedirs(out, exist_ok=True)
    store = SampleStore(settings.dataset)
    sut_model = Classifier(settings, store)
    found = sut_model.measure()
    count = len(store)
    sut = lg.ConstructSUT(sut_model.issue, lambda: None)
    qsl = lg.ConstructQSL(count, count, store.load, store.unload)
    try:
        targets = find_targets(settings, found, sut, qsl)
        conf_lines = user_conf(settings, targets)
        started = time.time()
        detail = run_loadgen(
            sut,
            qsl,
            settings.scenario,
            conf_lines,
            settings.loadgen_model,
            out,
            settings.mode,
        )
        finished = time.time()
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if store.not_loaded:
        shown = ", ".join(str(i) for i in sorted(store.not_loaded)[:10])
        raise HarnessError(
            f"LoadGen queried {len(store.not_loaded)} samples it had not loaded ({shown})"
        )

    result: dict[str, Any] = {
        "model": settings.model_name,
        "implementation": "bundled",
        "backend": "onnxruntime",
        "device": "cpu",
        "scenario": settings.scenario,
        "mode": settings.mode,
        "run_style": settings.run_style,
        "started": started,
        "finished": finished,
        "find_performance": found,
        "target_search": {
            "probes": [asdict(p) for p in targets.probes],
            "note": targets.note,
        },
        "qsl": store.report(),
        "dataset": dataset_info(settings, count),
        "user_conf": conf_lines,
        "loadgen": detail,
        "settings": asdict(settings),
        "onnxruntime_version": package_version("onnxruntime"),
        "python_version": platform.python_version(),
        "loadgen_version": package_version("mlcommons-loadgen"),
    }
    if settings.mode == "accuracy":
        correct, total = top1(os.path.join(out, "mlperf_log_accuracy.json"), store.labels)
        accuracy = correct / total if total else 0.0
        result["accuracy"] = {"top1": accuracy, "correct": correct, "total": total}
        with open(os.path.join(out, "accuracy.txt"), "w", encoding="utf-8") as fh:
            fh.write(f"top-1 accuracy: {100 * accuracy:.3f}% ({correct}/{total})\n")
        with open(os.path.join(out, "accuracy.json"), "w", encoding="utf-8") as fh:
            json.dump(result["accuracy"], fh, indent=1)
    metric, value = primary_metric(settings.scenario, detail)
    result["metric"] = {"name": metric, "value": value}
    with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1, default=str)

    exports = {
        "CM_MLPERF_OUTPUT_DIR": out,
        "CM_MLPERF_RESULT_FILE": os.path.join(out, "result.json"),
        "CM_MLPERF_FIND_PERFORMANCE_QPS": f"{found['throughput_qps']:.1f}",
    }
    if settings.mode == "performance":
        exports["CM_MLPERF_RESULT_VALID"] = str(detail.get("result_validity", ""))
        exports["CM_MLPERF_RESULT_METRIC"] = metric
        exports["CM_MLPERF_RESULT_VALUE"] = f"{value:g}"
    else:
        exports["CM_MLPERF_ACCURACY_TOP1"] = f"{result['accuracy']['top1']:.5f}"
    with open("tmp-run-env.out", "a", encoding="utf-8") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in exports.items())
    shown = (
        "CM_MLPERF_RESULT_VALID",
        "CM_MLPERF_RESULT_METRIC",
        "CM_MLPERF_RESULT_VALUE",
        "CM_MLPERF_ACCURACY_TOP1",
    )
    summary = ", ".join(
        f"{k[len('CM_MLPERF_') :].lower()}={v}" for k, v in exports.items() if k in shown
    )
    print(f"{settings.model_name} {settings.scenario} {settings.mode}: {summary} ({out})")
    return result


def main() -> int:
    try:
        run(Settings.from_env())
    except HarnessError as exc:
        print(f"app-mlperf-inference-onnx: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
