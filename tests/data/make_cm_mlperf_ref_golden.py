#!/usr/bin/env python3
"""Produce golden data for CM's own MLPerf reference ResNet50 run, offline, from real CM.

This writes ``cm_mlperf_ref_golden.json`` (next to this file by default): what real MLCommons
CM (``cmind`` 4.2.0 from PyPI + the cmx4mlops 1.0.1 corpus's ``automation/script/module.py``)
does for

    cm run script "app mlperf inference _reference _resnet50 _onnxruntime _cpu _offline _test"

with the local stand-ins and inputs of ``mlperf_ref_standins.py`` (a local git repository of
mlcommons/inference v5.0.1, a tiny ONNX model with ResNet50's interface, 64 preprocessed
images, a local ``caffe_ilsvrc12.tar.gz``; performance mode, results in a known folder). CM
really runs everything: it builds LoadGen from the local source with cmake and pip, pip-installs
onnxruntime, opencv, pycocotools, ... into a throw-away venv, and runs the reference harness
(``vision/classification_and_detection/python/main.py``).

How to reproduce ``tests/data/cm_mlperf_ref_golden.json``
---------------------------------------------------------

From the repository root, with the test cache that ``tests/conftest.py`` and
``tests/integration/test_mlperf_cm.py`` fill (the corpus unpacked from its wheel, cmind 4.2.0
in a venv)::

    python3 tests/data/make_cm_mlperf_ref_golden.py

Defaults: ``--corpus ~/.cache/cm-snakemake-tests/cmx4mlops-1.0.1/cmx4mlops``, ``--cm-python
~/.cache/cm-snakemake-tests/cmind-4.2.0/bin/python`` (``$CMSM_TEST_CACHE`` moves both),
``--base-python`` = the ``python3`` on PATH (it needs numpy and onnx to make the stand-ins and
creates the venv CM installs into). Needs: gcc/g++, cmake, git; PyPI (pip). Takes ~3 minutes.
``--keep`` keeps the temp dir (the CM log is ``<tmp>/cm.log``).

What the script does
--------------------

* Creates a temp dir ``<tmp>``, copies the corpus into it (CM writes into the repositories it
  imports: ``generate-mlperf-inference-user-conf`` writes its user.conf into its own folder),
  makes the stand-ins in ``<tmp>/standins`` (``mlperf_ref_standins.py`` run with the base
  python) and a fresh venv ``<tmp>/pyvenv``, put FIRST on PATH for CM: CM's ``get-python3``
  finds it there, every ``get-generic-python-lib`` pip install goes into it, and the reference
  ``run_local.sh`` (which calls ``python3``) uses it.
* CM runs in a child process (``<cm python> make_cm_mlperf_ref_golden.py --child ...``) with
  a scrubbed environment: all ``CM_*`` variables removed, ``CM_REPOS=<tmp>/cmhome`` (a
  private, empty CM home), ``CM_CORE_SKIP_INTERNAL_REPOS=yes``, no ``PYTHONPATH``, stdin =
  /dev/null, cwd = ``<tmp>/work``, after ``cm import repo --path=<copy of the corpus>``.
* The child calls ``cmind.access({'action': 'run', 'automation': 'script', 'tags': <tags>,
  **inputs, 'dump_version_info': True})``. ``dump_version_info`` (not part of the request)
  makes CM write ``cm-run-script-versions.json``: every script it ran, with its variations,
  version and parent, in order.

Output fields
-------------

* ``request``: the request as ``mlperf_ref_standins.py`` makes it (``tags``, ``inputs`` for
  CM's ``run``, the same as ``cm-snakemake run`` ``flags``), the stand-ins folder written as
  ``<standins>``.
* ``returncode`` / ``error``: CM's ``return`` and ``error``; ``seconds``: wall time of the
  CM child.
* ``run_dir``: where LoadGen wrote its logs, relative to the results folder (``--output_dir``),
  with the SUT folder as ``<sut>``; ``sut_folder``: that folder's real name (it holds the host
  name and the onnxruntime version, so it is machine-specific).
* ``loadgen_settings``: every ``requested_*`` / ``effective_*`` key of LoadGen's
  ``mlperf_log_detail.txt`` (scenario, mode, min/max query count, min/max duration, target
  QPS, samples per query, performance sample count, the seeds of ``mlperf.conf``, ...): they
  follow from the request, mlperf.conf and the user.conf CM writes, not from the machine;
  ``loadgen_results``: its ``result_*`` keys (measured, machine-specific); ``summary``:
  ``Result is`` and ``Samples per second`` (and scenario/mode) from ``mlperf_log_summary.txt``.
* ``files``: every file in the results folder (relative, SUT folder as ``<sut>``).
* ``scripts``: the scripts CM ran, in CM's order (alias, variations, version, parent), from
  ``cm-run-script-versions.json``; ``script_aliases``: the set of them; ``cached_hits``: how
  many script runs CM served from its cache within this one run.
* ``versions``: python (``get-python3``), onnxruntime (``get-generic-python-lib
  _onnxruntime``), numpy, LoadGen (``loadgen_version`` in the detail log and the version CM
  recorded for ``get-mlperf-inference-loadgen``), the inference source (its
  ``loadgen/VERSION.txt`` as CM exported it).
* ``new_env``: CM's exports at the top level (``CM_MLPERF_*``), with ``<tmp>`` for the temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import golden_runs  # noqa: E402 - this folder's shared code (cm_snakemake is not installed here)
import mlperf_ref_standins as standins  # noqa: E402

CACHED_MSG = "- Found cached script output:"
CACHE = Path(os.environ.get("CMSM_TEST_CACHE", Path.home() / ".cache" / "cm-snakemake-tests"))
DEFAULT_CORPUS = CACHE / "cmx4mlops-1.0.1" / "cmx4mlops"
DEFAULT_CM_PYTHON = CACHE / "cmind-4.2.0" / "bin" / "python"


# --------------------------------------------------------------------------------------------
# child: the CM run, in-process
# --------------------------------------------------------------------------------------------
def child_main(spec_file: str, out_file: str) -> None:
    records = golden_runs.grab_log_messages()  # before CM configures logging: its cache hits

    spec = json.loads(Path(spec_file).read_text())
    import cmind  # type: ignore[import-not-found]

    ii = {"action": "run", "automation": "script", "tags": spec["tags"]}
    ii.update(spec["inputs"])
    ii["dump_version_info"] = True
    r = cmind.access(ii)
    res = {
        "return": r.get("return"),
        "error": r.get("error"),
        "new_env": r.get("new_env"),
        "cached_hits": sum(m.lstrip().startswith(CACHED_MSG) for m in records),
    }
    golden_runs.save_result(out_file, res)


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def scrubbed_env(cm_repos: Path, path_prefix: Path) -> dict[str, str]:
    return golden_runs.scrubbed_env(
        ("CM_", "CMSM_"), path_prefix, CM_REPOS=cm_repos, CM_CORE_SKIP_INTERNAL_REPOS="yes"
    )


def script_runs(version_info: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CM's ``version_info`` list -> one entry per script run, in order."""
    out = []
    for item in version_info:
        for info in item.values():
            variations = [v for v in str(info.get("script_variations", "")).split(",") if v]
            out.append(
                {
                    "script": info.get("script_alias"),
                    "variations": variations,
                    "version": info.get("version", ""),
                    "parent": info.get("parent"),
                }
            )
    return out


def version_of(runs: list[dict[str, Any]], script: str, variation: str | None = None) -> str | None:
    for run in runs:
        if run["script"] == script and (variation is None or variation in run["variations"]):
            return str(run["version"]) or None
    return None


def pip_versions(python: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=False
    )
    try:
        return dict(json.loads(done.stdout))
    except json.JSONDecodeError:
        return dict.fromkeys(names)


def run_cm(
    cm_python: Path, request: dict[str, Any], tmp: Path, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run the request in a CM child process in ``<tmp>/work``; return what it reported."""
    work = tmp / "work"
    work.mkdir()
    log_file = tmp / "cm.log"
    print(f"running CM in {tmp} (log: {log_file}) ...", file=sys.stderr)
    child = golden_runs.run_child(
        [str(cm_python), str(Path(__file__).resolve()), "--child"],
        {"tags": request["tags"], "inputs": request["inputs"]},
        golden_runs.ChildFiles(tmp / "spec.json", tmp / "result.json", log_file),
        env=env,
        cwd=work,
        timeout=timeout,
    )
    seconds = round(child.seconds, 1)
    tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-40:])
    res: dict[str, Any]
    if child.result is not None:
        res = child.result
        res["error"] = res["error"] if res["return"] else None
    else:
        why = "timeout" if child.timed_out else f"child crashed (exit code {child.returncode})"
        error = f"{why}\n{tail}"
        res = {"return": child.returncode, "error": error, "new_env": {}, "cached_hits": None}
    versions_file = work / "cm-run-script-versions.json"
    res["runs"] = (
        script_runs(json.loads(versions_file.read_text())) if versions_file.is_file() else []
    )
    res["seconds"] = seconds
    res["log_tail"] = tail
    return res


def golden(request: dict[str, Any], res: dict[str, Any], tmp: Path, venv: Path) -> dict[str, Any]:
    """The golden document's measured part: outcome, LoadGen logs, files, scripts, versions."""
    found = standins.read_results(Path(request["inputs"]["output_dir"]))
    sut = found.get("sut_folder")
    run_dir = found.get("run_dir")
    if run_dir:
        run_dir = standins.normalise_files([run_dir], sut)[0]
    runs = res["runs"]
    pkgs = pip_versions(venv / "bin" / "python3", ("onnxruntime", "numpy", "mlcommons-loadgen"))
    new_env = {k: v for k, v in (res.get("new_env") or {}).items() if k.startswith("CM_MLPERF_")}
    return {
        "request": golden_runs.substitute(
            {k: request[k] for k in ("request", "tags", "inputs", "flags", "images")},
            {str(tmp / "standins"): "<standins>"},
        ),
        "returncode": res["return"],
        "error": res["error"],
        "seconds": res["seconds"],
        "run_dir": run_dir,
        "sut_folder": sut,
        "loadgen_settings": found.get("loadgen_settings", {}),
        "loadgen_results": found.get("loadgen_results", {}),
        "summary": found.get("summary", {}),
        "files": found.get("files_normalised", found.get("files", [])),
        "script_aliases": sorted({r["script"] for r in runs}),
        "scripts": runs,
        "cached_hits": res.get("cached_hits"),
        "versions": {
            "python": version_of(runs, "get-python3"),
            "onnxruntime": version_of(runs, "get-generic-python-lib", "onnxruntime")
            or pkgs.get("onnxruntime"),
            "onnxruntime_pip": pkgs.get("onnxruntime"),
            "numpy_pip": pkgs.get("numpy"),
            "loadgen": found.get("loadgen_version"),
            "loadgen_cm": version_of(runs, "get-mlperf-inference-loadgen"),
            "loadgen_pip": pkgs.get("mlcommons-loadgen"),
            "inference_source": new_env.get("CM_MLPERF_INFERENCE_SOURCE_VERSION"),
        },
        "new_env": golden_runs.substitute(new_env, {str(tmp): "<tmp>"}),
    }


def main() -> None:
    if golden_runs.run_as_child(child_main):
        return

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="dir with cmr.yaml")
    ap.add_argument("--cm-python", type=Path, default=DEFAULT_CM_PYTHON, help="has cmind")
    ap.add_argument("--base-python", default=None, help="numpy+onnx; makes the venv")
    ap.add_argument("--source", type=Path, default=None, help="mlcommons/inference subset")
    ap.add_argument("--out", type=Path, default=HERE / "cm_mlperf_ref_golden.json")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    corpus = args.corpus.resolve()
    if not (corpus / "cmr.yaml").is_file():
        sys.exit(f"no cmr.yaml in corpus path {corpus}")
    cm = args.cm_python.parent / "cm"
    if not cm.is_file():
        sys.exit(f"no `cm` next to {args.cm_python} (pip install cmind==4.2.0 into that venv)")
    base_python = golden_runs.base_python(args.base_python)

    with golden_runs.temp_dir("cm_mlperf_ref_", args.keep) as tmp_dir:
        tmp = Path(tmp_dir)
        make = [base_python, str(HERE / "mlperf_ref_standins.py"), "--out", str(tmp / "standins")]
        made = subprocess.run(
            make + (["--source", str(args.source)] if args.source else []),
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            sys.exit(f"making the stand-ins failed:\n{made.stdout}\n{made.stderr}")
        request = json.loads(made.stdout)

        corpus_copy = tmp / "cmx4mlops"
        shutil.copytree(corpus, corpus_copy, symlinks=True)
        venv = tmp / "pyvenv"
        golden_runs.make_venv(base_python, venv)
        env = scrubbed_env(tmp / "cmhome", venv / "bin")

        def setup(*cmd: str) -> str:
            return golden_runs.setup_run(cmd, env, tmp).stdout

        setup(str(cm), "import", "repo", f"--path={corpus_copy}")
        cmind_version = setup(str(cm), "version").split()[-1]

        res = run_cm(args.cm_python, request, tmp, env, args.timeout)
        doc = {
            "cmind_version": cmind_version,
            "corpus": "cmx4mlops==" + (corpus / "VERSION").read_text().strip(),
            "produced_by": golden_runs.produced_by(),
            "cm_call": "cmind.access({'action':'run','automation':'script','tags':<tags>,"
            "**inputs, 'dump_version_info':True}) in a child process",
            **golden(request, res, tmp, venv),
            "host_notes": {
                "platform": platform.platform(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "user_is_root": hasattr(os, "geteuid") and os.geteuid() == 0,
                "venv": f"<tmp>/pyvenv made with {base_python}, first on PATH",
                "tools": {t: shutil.which(t) for t in ("gcc", "g++", "cmake", "git")},
                "network": "PyPI only (pip installs); everything else is a local stand-in",
            },
        }
        # script variations and parents name the stand-ins (``_repo.<path>``, ``_path.<file>``)
        doc = golden_runs.substitute(doc, {str(tmp / "standins"): "<standins>", str(tmp): "<tmp>"})
        golden_runs.write_json(args.out, doc)
        print(
            f"wrote {args.out}: rc={doc['returncode']} in {doc['seconds']}s, "
            f"{len(doc['scripts'])} script runs, {len(doc['files'])} result files",
            file=sys.stderr,
        )
        if doc["returncode"] != 0:
            print(
                f"CM failed: {doc['error']}\n--- log tail ---\n{res['log_tail']}", file=sys.stderr
            )


if __name__ == "__main__":
    main()
