"""LoadGen harness: an onnxruntime classifier as the MLPerf system under test.

Reads its settings from the environment (see ``_cm.yaml``), writes into the current folder:
``mlperf/<model>/<scenario>/<mode>/`` with LoadGen's logs, ``user.conf``, ``result.json`` and,
in accuracy mode, ``accuracy.txt`` and ``accuracy.json``; and exports the figures through
``tmp-run-env.out``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any

import mlperf_loadgen as lg
import numpy as np
import onnxruntime as ort

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


class Classifier:
    """The system under test: one onnxruntime session, answering with the top-1 class."""

    def __init__(self, settings: Settings) -> None:
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
        self.images = np.load(os.path.join(settings.dataset, "val_x.npy"))
        self.labels = np.load(os.path.join(settings.dataset, "val_y.npy"))

    def predict(self, indices: np.ndarray) -> np.ndarray:
        """Top-1 classes of the samples, in batches of at most ``self.batch`` (a query of
        the Offline scenario holds every sample of the run)."""
        parts = [
            self._classes(indices[i : i + self.batch]) for i in range(0, len(indices), self.batch)
        ]
        classes = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.ascontiguousarray(classes - self.label_offset)

    def _classes(self, indices: np.ndarray) -> np.ndarray:
        out = self.session.run(self.outputs, {self.input_name: self.images[indices]})[0]
        classes = out.argmax(axis=1) if out.ndim == 2 else out.reshape(len(indices))
        return classes.astype(np.int64)

    def issue(self, samples: list[Any]) -> None:
        indices = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(samples))
        classes = self.predict(indices)
        base = classes.ctypes.data
        size = classes.itemsize
        lg.QuerySamplesComplete(
            [lg.QuerySampleResponse(s.id, base + i * size, size) for i, s in enumerate(samples)]
        )

    def measure(self) -> dict[str, float]:
        """Find-performance: a short measurement of the system under test (inference plus
        building the responses) to set the targets of the run. Bounded in time for big
        models: a few batches of at most 64 samples, then up to 20 timed queries of each
        size (or half a second)."""
        count = len(self.labels)
        probe = np.arange(min(count, 64), dtype=np.int64)
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
        return {
            "throughput_qps": throughput,
            "single_latency_s": latencies[0],
            "multi_latency_s": latencies[1],
        }


def user_conf(settings: Settings, found: dict[str, float]) -> list[str]:
    """The user.conf lines of the run: explicit targets first, then measured ones."""
    s = f"*.{settings.scenario}"
    lines: list[str] = []
    if settings.scenario == "Offline":
        # LoadGen issues target_qps x min_duration samples in one query: a run faster than
        # the target ends before min_duration (INVALID), a slower one just runs longer; the
        # measurement may also have shared the CPU with other jobs. So aim high.
        qps = settings.target_qps or 2 * found["throughput_qps"]
        lines.append(f"{s}.target_qps = {qps:.1f}")
    elif settings.scenario == "Server":
        # one query at a time through Python: aim at a third of what one query costs
        qps = settings.target_qps or min(2000.0, 1 / (3 * found["single_latency_s"] + 200e-6))
        lines.append(f"{s}.target_qps = {qps:.1f}")
        if settings.target_latency_ms:  # else the benchmark's bound, from mlperf.conf
            lines.append(f"{s}.target_latency = {settings.target_latency_ms:g}")
    elif settings.scenario == "SingleStream":
        latency = settings.target_latency_ms or found["single_latency_s"] * 1000
        lines.append(f"{s}.target_latency = {max(latency, 0.001):.4f}")
    else:
        latency = settings.target_latency_ms or found["multi_latency_s"] * 1000
        lines.append(f"{s}.target_latency = {max(latency, 0.001):.4f}")
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


def run(settings: Settings) -> dict[str, Any]:
    out = os.path.join(os.getcwd(), "mlperf", settings.model_name, settings.scenario, settings.mode)
    os.makedirs(out, exist_ok=True)
    sut_model = Classifier(settings)
    found = sut_model.measure()
    conf_lines = user_conf(settings, found)
    conf = os.path.join(out, "user.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write("\n".join(conf_lines) + "\n")

    test = lg.TestSettings()
    test.scenario = SCENARIOS[settings.scenario.lower()]
    accuracy_mode = settings.mode == "accuracy"
    test.mode = lg.TestMode.AccuracyOnly if accuracy_mode else lg.TestMode.PerformanceOnly
    # LoadGen applies its mlperf.conf for the benchmark, then this user.conf
    if test.FromConfig(conf, settings.loadgen_model, settings.scenario, 1) != 0:
        raise HarnessError(f"LoadGen could not read {conf}")
    log = lg.LogSettings()
    log.log_output.outdir = out
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    count = len(sut_model.labels)
    sut = lg.ConstructSUT(sut_model.issue, lambda: None)
    qsl = lg.ConstructQSL(count, count, lambda _: None, lambda _: None)
    started = time.time()
    try:
        lg.StartTestWithLogSettings(sut, qsl, test, log)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    finished = time.time()

    detail = read_detail_log(os.path.join(out, "mlperf_log_detail.txt"))
    result: dict[str, Any] = {
        "model": settings.model_name,
        "backend": "onnxruntime",
        "device": "cpu",
        "scenario": settings.scenario,
        "mode": settings.mode,
        "run_style": settings.run_style,
        "started": started,
        "finished": finished,
        "find_performance": found,
        "user_conf": conf_lines,
        "loadgen": detail,
        "settings": asdict(settings),
        "onnxruntime_version": ort.__version__,
        "python_version": platform.python_version(),
        "loadgen_version": package_version("mlcommons-loadgen"),
    }
    if settings.mode == "accuracy":
        correct, total = top1(os.path.join(out, "mlperf_log_accuracy.json"), sut_model.labels)
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
