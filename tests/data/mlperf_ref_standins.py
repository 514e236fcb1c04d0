#!/usr/bin/env python3
"""Local stand-ins for CM's MLPerf reference ResNet50 run, and the request that uses them.

``cm run script "app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test"``
(cmx4mlops 1.0.1) normally clones mlcommons/inference from GitHub, downloads ResNet50 from
Zenodo, the ImageNet validation set and Caffe's ``caffe_ilsvrc12.tar.gz``. This module makes
small local replacements for all of them under one folder and returns the exact inputs that make
the corpus scripts use them, offline:

* ``inference-src.git/``: a git repository (one commit on ``master``, tagged) of the pinned
  mlcommons/inference v5.0.1 subset, as ``make-git-repo.sh`` makes it. ``get-mlperf-inference-src``
  clones it through ``get-git-repo`` when its tags get ``_repo.<path>``; the request says so
  for the three dependencies that fetch the source: ``inference-src`` (the benchmark code and
  ``mlperf.conf``), ``inference-src-loadgen`` (LoadGen, built from source with cmake and
  pip-installed) and ``mlperf-implementation`` (the reference harness).
* ``model/resnet50_v1.onnx``: a tiny ONNX model (``onnx.helper``) with ResNet50's interface:
  input ``input_tensor:0`` float32 ``[N,3,224,224]``, outputs ``ArgMax:0`` (int64 ``[N]``,
  classes 1..1000) and ``softmax_tensor:0``. It picks the class from the mean colour (red ->
  1, green -> 2, blue -> 3), so the reference accuracy is 100 %. The reference ``run_local.sh``
  loads ``$MODEL_DIR/resnet50_v1.onnx``, hence the name. ``get-ml-model-resnet50`` fetches the
  model through its ``download-and-extract`` prehook dependency named ``model-downloader``;
  ``--adr.model-downloader.env.CM_DOWNLOAD_LOCAL_FILE_PATH=<file>`` makes ``download-file``
  take the local file instead of the URL (env given to a dependency stays local to it).
* ``preprocessed/``: 64 images, preprocessed as the reference preprocessing writes them
  (``get-preprocessed-dataset-imagenet`` runs ``vision/classification_and_detection/python``'s
  ``imagenet.Imagenet`` with ``dataset.pre_process_vgg``, NCHW): one
  ``ILSVRC2012_val_%08d.JPEG.npy`` per image, float32 ``[3,224,224]`` = RGB minus the means
  (123.68, 116.78, 103.94), plus ``val_map.txt`` (``<name> <label>`` lines). The harness reads
  ``<dataset-path>/<name>.npy`` for each line of its ``--dataset-list``.
  ``get-preprocessed-dataset-imagenet`` uses a ready folder when its input
  ``imagenet_preprocessed_path`` (-> ``CM_IMAGENET_PREPROCESSED_PATH``) is set: its dependencies
  on the original dataset, the aux files and the inference source are then skipped, its
  ``preprocess`` checks that ``<path>/**/<CM_IMAGENET_PREPROCESSED_FILENAME>`` exists (that env
  key must be set too, or it raises a KeyError) and sets ``CM_DATASET_PREPROCESSED_PATH`` to the
  folder; ``run.sh`` does nothing. Both go to the dependency named ``imagenet-preprocessed``
  through ``adr``.
* ``caffe_ilsvrc12.tar.gz``: ``val.txt`` (the same 64 lines) at the top of the archive, as in
  Caffe's. ``get-dataset-imagenet-aux`` extracts it with ``download-and-extract`` into its cache
  entry (``CM_DATASET_AUX_PATH``); the harness gets ``--dataset-list <aux>/val.txt`` (and in
  accuracy mode the accuracy script ``--imagenet-val-file`` the same). That dependency has
  no name, so ``adr`` cannot reach it: the local file goes in the global ``env``
  (``CM_DOWNLOAD_LOCAL_FILE_PATH``, which the model download overrides through its dependency
  env). The aux script's default variation (``_from.berkeleyvision``) sets
  ``CM_DOWNLOAD_CHECKSUM`` to the real archive's MD5; variation env overrides input env, so
  only ``const`` can clear it: ``--const.CM_DOWNLOAD_CHECKSUM=`` (this turns the MD5 check off
  for both local files).

Other inputs of the request: ``--adr.compiler.tags=gcc`` (LoadGen's compiler);
``--mode=performance`` (CM's default mode is accuracy, where LoadGen logs no performance
summary, so no ``Result is`` line); ``--env.CM_GET_PLATFORM_DETAILS=no`` (in performance mode
``get-platform-details`` would apt-install dmidecode and friends to describe the host);
``--output_dir=<DIR>/results`` (results under a known folder instead of a cache entry);
``quiet``.

Run ``python tests/data/mlperf_ref_standins.py --out DIR`` to make the stand-ins and print the
request as JSON (``--flags`` prints the command line for ``cm-snakemake run`` instead). Needs
numpy, onnx and git. The inference source is ``$CMSM_INFERENCE_SRC``, else
``<repo root>/../shared/mlperf-inference/v5.0.1``, else ``/work/shared/mlperf-inference/v5.0.1``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUEST = "app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test"
TAGS = ",".join(REQUEST.split())
IMAGES = 64
MEANS = (123.68, 116.78, 103.94)  # dataset.pre_process_vgg, RGB
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))  # labels 0, 1, 2 (model classes 1, 2, 3)
REPO_ROOT = Path(__file__).resolve().parents[2]
SUBSET = "v5.0.1"
# the dependencies (by name) that fetch mlcommons/inference
SOURCE_DEPS = ("inference-src", "inference-src-loadgen", "mlperf-implementation")


def source_candidates() -> list[Path]:
    """Where the inference source is looked for, in order."""
    found = [Path(os.environ["CMSM_INFERENCE_SRC"])] if os.environ.get("CMSM_INFERENCE_SRC") else []
    return [
        *found,
        REPO_ROOT.parent / "shared" / "mlperf-inference" / SUBSET,
        Path("/work/shared/mlperf-inference") / SUBSET,
    ]


def find_inference_source() -> Path | None:
    """The first candidate that holds LoadGen and the classification reference code."""
    for path in source_candidates():
        if (path / "loadgen" / "VERSION.txt").is_file() and (
            path / "vision" / "classification_and_detection" / "python" / "main.py"
        ).is_file():
            return path
    return None


def make_git_repo(source: Path, dest: Path, tag: str = SUBSET) -> Path:
    """Copy ``source`` into a fresh git repository: one commit on ``master``, tagged ``tag``
    (what ``shared/mlperf-inference/make-git-repo.sh`` does)."""
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    for folder, _, files in os.walk(dest):
        for name in (folder, *(os.path.join(folder, f) for f in files)):
            if not os.path.islink(name):
                os.chmod(name, os.stat(name).st_mode | 0o200)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "master")
    git("add", "-A")
    ident = ("-c", "user.name=mlperf-inference", "-c", "user.email=none@localhost")
    git(*ident, "commit", "-q", "-m", f"mlcommons/inference {tag} (pinned subset)")
    git("tag", tag)
    return dest


def make_model(path: Path) -> None:
    """ResNet50's interface; class = 1 + the channel with the largest mean (red, green, blue)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((3, 1001), np.float32)
    for channel in range(3):
        weights[channel, channel + 1] = 1.0
    nodes = [
        helper.make_node("GlobalAveragePool", ["input_tensor:0"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["ArgMax:0"], axis=1, keepdims=0),
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "resnet50-standin",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [
            helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", 1001]),
        ],
        [
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.zeros(1001, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def resnet50_files(base: Path, count: int = 6) -> dict[str, Path]:
    """A model with ResNet50's interface (``mirror/resnet50_v1.onnx``), ``count`` JPEGs of
    plain colours with CM's ``val_map.txt`` (``imagenet-val/``) and a tarball of that folder
    (``mirror/imagenet-val.tar.gz``), for the bundled scripts' ResNet50 path."""
    from PIL import Image

    model = base / "mirror" / "resnet50_v1.onnx"
    model.parent.mkdir(parents=True, exist_ok=True)
    make_model(model)  # the class is 1 + the channel with the largest mean (red, green, blue)
    images = base / "imagenet-val"
    images.mkdir()
    lines = []
    for i in range(count):
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        Image.new("RGB", (300, 260), COLOURS[i % 3]).save(images / name, "JPEG")
        lines.append(f"{name} {i % 3}\n")
    (images / "val_map.txt").write_text("".join(lines))
    archive = base / "mirror" / "imagenet-val.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(images, arcname="imagenet-val")
    return {"model": model, "images": images, "archive": archive}


def image_list(count: int = IMAGES) -> list[tuple[str, int]]:
    """ImageNet validation names with labels 0, 1, 2 in turn (``val.txt`` / ``val_map.txt``)."""
    return [(f"ILSVRC2012_val_{i + 1:08d}.JPEG", i % len(COLOURS)) for i in range(count)]


def list_text(images: list[tuple[str, int]]) -> str:
    return "".join(f"{name} {label}\n" for name, label in images)


def make_preprocessed(folder: Path, images: list[tuple[str, int]]) -> None:
    """What ``imagenet.Imagenet(..., pre_process=pre_process_vgg, image_format="NCHW")`` caches
    for solid-colour images: ``<name>.npy``, float32 [3,224,224], RGB minus the means."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    means = np.array(MEANS, dtype=np.float32)
    for name, label in images:
        hwc = np.empty((224, 224, 3), np.float32)
        hwc[:] = np.array(COLOURS[label], dtype=np.float32)
        hwc -= means
        np.save(folder / name, hwc.transpose([2, 0, 1]))  # np.save appends ".npy"
    (folder / "val_map.txt").write_text(list_text(images))


def make_caffe_tarball(path: Path, images: list[tuple[str, int]]) -> None:
    """``caffe_ilsvrc12.tar.gz`` with ``val.txt`` at the top, like Caffe's archive."""
    staging = path.parent / "caffe_ilsvrc12"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "val.txt").write_text(list_text(images))
    with tarfile.open(path, "w:gz") as tar:
        tar.add(staging / "val.txt", arcname="val.txt")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Request:
    """One CM ``run`` request: ``cmind.access({"action": "run", "automation": "script",
    "tags": tags, **inputs})``, and the stand-ins it points to."""

    tags: str
    inputs: dict[str, Any]
    standins: dict[str, str] = field(default_factory=dict)
    images: int = IMAGES

    @property
    def results_dir(self) -> Path:
        return Path(self.inputs["output_dir"])

    def flags(self) -> list[str]:
        """The same inputs as ``cm-snakemake run`` flags (``--adr.NAME.KEY=V``, ...)."""
        return to_flags(self.inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "request": REQUEST,
            "tags": self.tags,
            "inputs": self.inputs,
            "flags": self.flags(),
            "standins": self.standins,
            "images": self.images,
        }


def to_flags(inputs: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"adr": {"x": {"tags": "gcc"}}, "quiet": True}`` -> ``["--adr.x.tags=gcc", "--quiet"]``."""
    out: list[str] = []
    for key, value in inputs.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += to_flags(value, name + ".")
        elif value is True:
            out.append(f"--{name}")
        else:
            out.append(f"--{name}={value}")
    return out


def build(out: Path, source: Path | None = None, count: int = IMAGES) -> Request:
    """Make every stand-in under ``out`` (which must not hold them yet) and return the request."""
    if source is None:
        source = find_inference_source()
        if source is None:
            tried = ", ".join(str(p) for p in source_candidates())
            raise FileNotFoundError(f"no mlcommons/inference source found (tried {tried})")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    repo = make_git_repo(source, out / "inference-src.git")
    model = out / "model" / "resnet50_v1.onnx"
    make_model(model)
    images = image_list(count)
    preprocessed = out / "preprocessed"
    make_preprocessed(preprocessed, images)
    caffe = out / "caffe_ilsvrc12.tar.gz"
    make_caffe_tarball(caffe, images)
    results = out / "results"

    adr: dict[str, Any] = {name: {"tags": f"_repo.{repo}"} for name in SOURCE_DEPS}
    adr["compiler"] = {"tags": "gcc"}
    adr["model-downloader"] = {"env": {"CM_DOWNLOAD_LOCAL_FILE_PATH": str(model)}}
    adr["imagenet-preprocessed"] = {
        "imagenet_preprocessed_path": str(preprocessed),
        "env": {"CM_IMAGENET_PREPROCESSED_FILENAME": images[0][0] + ".npy"},
    }
    inputs: dict[str, Any] = {
        "adr": adr,
        "env": {
            "CM_DOWNLOAD_LOCAL_FILE_PATH": str(caffe),
            "CM_GET_PLATFORM_DETAILS": "no",
        },
        "const": {"CM_DOWNLOAD_CHECKSUM": ""},
        "mode": "performance",
        "output_dir": str(results),
        "quiet": True,
    }
    standins = {
        "source": str(source),
        "git_repo": str(repo),
        "model": str(model),
        "model_md5": md5(model),
        "preprocessed": str(preprocessed),
        "caffe_tarball": str(caffe),
        "caffe_tarball_md5": md5(caffe),
        "results": str(results),
    }
    return Request(TAGS, inputs, standins, count)


# --------------------------------------------------------------------------------------------
# what a run wrote: LoadGen's logs and the files in the results folder
# --------------------------------------------------------------------------------------------
MLLOG = ":::MLLOG "


def read_mllog(path: Path) -> dict[str, Any]:
    """The ``key -> value`` pairs of LoadGen's ``:::MLLOG {json}`` lines (last one wins)."""
    out: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(MLLOG):
            try:
                record = json.loads(line[len(MLLOG) :])
            except json.JSONDecodeError:
                continue
            out[record["key"]] = record.get("value")
    return out


def loadgen_settings(detail: dict[str, Any]) -> dict[str, Any]:
    """The requested and effective test settings LoadGen logged (scenario, mode, counts,
    durations, target QPS, sample counts, seeds, ...)."""
    return {k: v for k, v in sorted(detail.items()) if k.startswith(("requested_", "effective_"))}


def summary_lines(path: Path) -> dict[str, str]:
    """``Result is`` and the performance lines of ``mlperf_log_summary.txt``."""
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("SUT name", "Scenario", "Mode", "Result is", "Samples per second"):
            out[key] = value.strip()
    return out


def results_files(results: Path) -> list[str]:
    """Every file under the results folder, relative, sorted."""
    if not results.is_dir():
        return []
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file())


def find_run_dir(results: Path) -> Path | None:
    """The folder LoadGen wrote its logs to (the one holding ``mlperf_log_detail.txt``)."""
    found = sorted(results.rglob("mlperf_log_detail.txt")) if results.is_dir() else []
    return found[0].parent if found else None


def normalise_files(files: list[str], sut: str | None) -> list[str]:
    """File names with the machine-dependent SUT folder name replaced by ``<sut>``."""
    if not sut:
        return list(files)
    return sorted("/".join("<sut>" if p == sut else p for p in f.split("/")) for f in files)


def read_results(results: Path) -> dict[str, Any]:
    """What a run left in ``results``: LoadGen settings, summary, results, file list."""
    run = find_run_dir(results)
    if run is None:
        return {"run_dir": None, "files": results_files(results)}
    detail = read_mllog(run / "mlperf_log_detail.txt")
    rel = run.relative_to(results).parts
    # <output_dir>/<test_results>/<SUT name>/<model>/<scenario>/<mode>[/run_1]
    sut = rel[1] if len(rel) > 1 else None
    files = results_files(results)
    summary = run / "mlperf_log_summary.txt"
    return {
        "run_dir": "/".join(rel),
        "sut_folder": sut,
        "loadgen_settings": loadgen_settings(detail),
        "loadgen_results": {k: v for k, v in sorted(detail.items()) if k.startswith("result_")},
        "loadgen_version": detail.get("loadgen_version"),
        "summary": summary_lines(summary) if summary.is_file() else {},
        "files": files,
        "files_normalised": normalise_files(files, sut),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="folder for the stand-ins (new)")
    ap.add_argument("--source", type=Path, default=None, help="mlcommons/inference subset")
    ap.add_argument("--images", type=int, default=IMAGES)
    ap.add_argument("--flags", action="store_true", help="print cm-snakemake run's command line")
    args = ap.parse_args(argv)
    try:
        request = build(args.out, args.source, args.images)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 1
    if args.flags:
        import shlex

        print(shlex.join(["cm-snakemake", "run", REQUEST, *request.flags()]))
    else:
        json.dump(request.to_json(), sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
