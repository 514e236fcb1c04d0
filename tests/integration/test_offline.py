"""Air-gapped runs for real: a bundle made by ``prefetch`` on the side with network (files
served by an HTTP server on 127.0.0.1, a git repository over git's HTTP protocol, wheels from
the package index), then the run on the other side inside a network namespace without
interfaces (``unshare -n``), where nothing can reach the network."""

from __future__ import annotations

import csv
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import RepoMaker, checker_source, cli, no_checker_reason
from ..data.mlperf_ref_standins import resnet50_files

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "mlperf" / "Snakefile"
SOURCE = checker_source()


def _unshare_reason() -> str:
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"unshare -n is not permitted here (needs root): {done.stderr.strip()}"
    return ""


NO_UNSHARE = _unshare_reason()
needs_unshare = pytest.mark.skipif(bool(NO_UNSHARE), reason=NO_UNSHARE)


class Mirror:
    """Files served over HTTP on 127.0.0.1, counting the requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:
                mirror.requests.append(self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    served = tmp_path / "served"
    served.mkdir()
    server = Mirror(served)
    yield server
    server.close()


def _digest(path: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def _run(command: list[str], env: dict[str, str], cwd: Path | None = None,
         offline: bool = False) -> subprocess.CompletedProcess[str]:  # fmt: skip
    prefix = ["unshare", "-n"] if offline else []
    return subprocess.run([*prefix, *command], capture_output=True, text=True, check=False,
                          env=env, cwd=cwd)  # fmt: skip


def _snakemake(work: Path, env: dict[str, str], target: str, config: list[str],
               offline: bool = False) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(work), "-c2",
               target, "--config", *config]  # fmt: skip
    return _run(command, env, offline=offline)


def _rows(csv_path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    with open(csv_path, newline="") as fh:
        return {(r["model"], r["scenario"], r["mode"]): r for r in csv.DictReader(fh)}


@pytest.mark.slow
@needs_unshare
@pytest.mark.skipif(SOURCE is None, reason=no_checker_reason())
def test_mlperf_all_runs_offline_from_a_prefetched_bundle(tmp_path: Path, mirror: Mirror) -> None:
    files = resnet50_files(mirror.root)
    config = [
        "models=[digits-logreg,resnet50]", "scenarios=[Offline]", "min_duration_ms=300",
        "min_query_count=32", "system_name=offlinebox", f"inference_source={SOURCE}",
        f"resnet50_model={mirror.url('mirror/resnet50_v1.onnx')}",
        f"resnet50_checksum={_digest(files['model'], 'md5')}",
        f"imagenet={mirror.url('mirror/imagenet-val.tar.gz')}",
        f"imagenet_sha256={_digest(files['archive'], 'sha256')}",
    ]  # fmt: skip
    bundle = tmp_path / "bundle"
    online_env = {**os.environ, "CMSM_HOME": str(tmp_path / "online-home")}
    online = tmp_path / "online"
    online.mkdir()
    # the side with network: the bundle of the whole matrix, then the run itself
    done = _snakemake(online, online_env, "prefetch", [*config, f"prefetch_out={bundle}"])
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    kinds = sorted({(i["kind"], i["source"]) for i in manifest["items"]})
    assert ("download", mirror.url("mirror/resnet50_v1.onnx")) in kinds
    assert ("download", mirror.url("mirror/imagenet-val.tar.gz")) in kinds
    # the pip installs of the plan, whether or not they are installed here
    assert {s for k, s in kinds if k == "pip"} >= {"numpy", "onnxruntime", "mlcommons-loadgen"}
    model_item = next(i for i in manifest["items"] if i["source"].endswith(".onnx"))
    assert model_item["checksum"] == f"md5:{_digest(files['model'], 'md5')}"
    assert model_item["size"] == files["model"].stat().st_size
    assert (bundle / "pip").is_dir() and any((bundle / "pip").glob("onnxruntime-*.whl"))
    requests = len(mirror.requests)
    done = _snakemake(online, online_env, "mlperf_all", config)
    assert done.returncode == 0, done.stderr[-3000:]

    # a second prefetch of the same plan adds nothing and asks the server nothing
    mirror.requests.clear()
    done = _snakemake(online, online_env, "prefetch",
                      [*config, f"prefetch_out={bundle}", "min_query_count=33"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^0 added \(0 B\)", done.stdout + done.stderr, re.M)
    assert mirror.requests == [], mirror.requests
    assert requests == 2  # the model and the dataset archive, once each

    # the side without network: another machine's home (empty cache), no interfaces at all
    offline_env = {**os.environ, "CMSM_HOME": str(tmp_path / "offline-home")}
    offline = tmp_path / "offline"
    offline.mkdir()
    done = _snakemake(offline, offline_env, "mlperf_all", [*config, f"offline={bundle}"],
                      offline=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert mirror.requests == []
    before = _rows(online / "results" / "mlperf" / "results.csv")
    after = _rows(offline / "results" / "mlperf" / "results.csv")
    assert sorted(after) == sorted(before) and len(after) == 4
    for cell, row in before.items():  # the same model and data give the same accuracy
        if cell[2] == "accuracy":
            assert after[cell]["value"] == row["value"], cell
    for path in (offline / "results" / "mlperf").glob("submission-check.txt"):
        assert "no other errors" in path.read_text()
    # the model came from the bundle, verified, and was not copied into the cache
    cache = tmp_path / "offline-home" / "cache"
    downloads = [json.loads(p.read_text()) for p in cache.rglob("*.json")
                 if "download-file-verified" in str(p)]  # fmt: skip
    paths = {str(d.get("new_env", {}).get("CM_DOWNLOAD_DOWNLOADED_PATH")) for d in downloads}
    assert str(bundle / model_item["path"]) in paths, paths


@pytest.mark.slow
@pytest.mark.skipif(SOURCE is None, reason=no_checker_reason())
def test_a_need_the_bundle_lacks_stops_the_run_before_any_work(
    tmp_path: Path, mirror: Mirror
) -> None:
    files = resnet50_files(mirror.root)
    model_url = mirror.url("mirror/resnet50_v1.onnx")
    digits = ["scenarios=[Offline]", "system_name=offlinebox", f"inference_source={SOURCE}"]
    env = {**os.environ, "CMSM_HOME": str(tmp_path / "home")}
    work = tmp_path / "wf"
    work.mkdir()
    bundle = tmp_path / "bundle"
    done = _snakemake(work, env, "prefetch", [*digits, f"prefetch_out={bundle}"])
    assert done.returncode == 0, done.stderr[-3000:]
    wider = [*digits, "models=[digits-logreg,resnet50]", f"resnet50_model={model_url}",
             f"resnet50_checksum={_digest(files['model'], 'md5')}",
             f"imagenet={files['images']}"]  # fmt: skip
    # the network is there (the server runs): the run must not use it
    done = _snakemake(work, env, "mlperf_all", [*wider, f"offline={bundle}"])
    assert done.returncode != 0
    message = done.stderr
    # the model, and pillow (the ImageNet preprocessing's): nothing of digits-logreg
    assert f"the bundle {bundle} lacks 2 item(s)" in message, message[-3000:]
    assert f"download-file-verified: download {model_url} (md5:" in message
    assert "get-python-package: pip pillow (unless installed)" in message
    assert "cm-snakemake prefetch" in message and "prefetch_out=" in message
    assert mirror.requests == []
    assert not (tmp_path / "home" / "cache").exists() or not any(
        (tmp_path / "home" / "cache").rglob("*.json"))  # fmt: skip
    assert not (work / "results").exists()


@needs_unshare
def test_pip_installs_come_from_the_bundle_into_an_empty_python(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    code, out, err = cli("prefetch", "get python-package _pillow", f"--out={bundle}")
    assert code == 0, err
    assert out.splitlines()[0].startswith("added   pip      pillow")
    wheels = sorted(p.name for p in (bundle / "pip").iterdir())
    assert any(w.startswith("pillow-") for w in wheels)
    code, out, err = cli("prefetch", "get python-package _pillow", f"--out={bundle}")
    assert code == 0 and "0 added (0 B), 1 already in the bundle" in out
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    command = [sys.executable, "-m", "cm_snakemake", "run", "get python-package _pillow",
               f"--env.CM_PYTHON_BIN_WITH_PATH={python}", f"--offline={bundle}"]  # fmt: skip
    done = _run(command, dict(os.environ), cwd=tmp_path, offline=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"CM_PYTHONLIB_PILLOW_PYTHON={python}" in done.stdout
    check = subprocess.run([str(python), "-c", "import PIL; print(PIL.__version__)"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert check.returncode == 0 and f"CM_PYTHONLIB_PILLOW_VERSION={check.stdout.strip()}" in (
        done.stdout)  # fmt: skip
    # another package: not in the bundle, a clear error, and the venv is left as it was
    command[4] = "get python-package _matplotlib"
    done = _run(command, dict(os.environ), cwd=tmp_path, offline=True)
    assert done.returncode == 1
    assert "lacks 1 item(s)" in done.stderr and "get-python-package: pip matplotlib" in done.stderr
    assert f'cm-snakemake prefetch "get python-package _matplotlib" --out={bundle}' in done.stderr
    assert "installing" not in done.stderr


def test_pip_downloads_wheels_for_the_targets_python(tmp_path: Path) -> None:
    """The target's facts name another Python (3.12 here): pip fetches its wheels."""
    facts_file = tmp_path / "target-facts.json"
    code, _, err = cli("facts", f"--out={facts_file}")
    assert code == 0, err
    facts = json.loads(facts_file.read_text())
    assert facts["python"]["version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    facts["python"].update(version="3.12", abi="cp312")
    facts_file.write_text(json.dumps(facts))
    bundle = tmp_path / "bundle"
    code, _, err = cli("prefetch", "get python-package _pillow", f"--out={bundle}",
                       f"--facts={facts_file}")  # fmt: skip
    assert code == 0, err
    wheels = [p.name for p in (bundle / "pip").iterdir()]
    assert len(wheels) == 1 and "-cp312-cp312-" in wheels[0], wheels
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["pip_target"]["version"] == "3.12"


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@needs_unshare
def test_a_git_clone_comes_from_the_bundles_mirror(
    tmp_path: Path, mirror: Mirror, make_repo: RepoMaker
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    _git("init", "-q", "-b", "main", cwd=source)
    (source / "VERSION").write_text("one\n")
    _git("add", ".", cwd=source)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=source)
    _git("tag", "v1", cwd=source)
    (source / "VERSION").write_text("two\n")
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two", cwd=source)
    served = mirror.root / "src.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(served)], check=True)
    _git("update-server-info", cwd=served)  # git's plain-HTTP protocol
    url = mirror.url("src.git")
    run_sh = ('#!/bin/bash\nset -e\nrm -rf repo\ngit clone -q "$CM_GIT_URL" repo\n'
              'git -C repo checkout -q "$CM_GIT_CHECKOUT"\n'
              'echo "CM_GIT_REPO_VERSION=$(cat repo/VERSION)" > tmp-run-env.out\n')  # fmt: skip
    root = make_repo(
        "gitrepo",
        {"get-git-repo": "alias: get-git-repo\nuid: 'c000000000000002'\ntags: [get, git, repo]\n"
         f"cache: true\ndefault_env: {{CM_GIT_URL: '{url}', CM_GIT_CHECKOUT: v1}}\n"
         "new_env_keys: [CM_GIT_REPO_VERSION]\n"},
        files={"get-git-repo/run.sh": run_sh},
    )  # fmt: skip
    code, _, err = cli("repo", "add", str(root))
    assert code == 0, err
    bundle = tmp_path / "bundle"
    code, out, err = cli("prefetch", "get git repo", f"--out={bundle}", "--no-facts")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"added   git      {url}")
    mirror.requests.clear()
    # a relative path: the script runs in its cache entry, elsewhere
    command = [sys.executable, "-m", "cm_snakemake", "run", "get git repo", "--no-facts",
               "--offline=bundle"]  # fmt: skip
    done = _run(command, dict(os.environ), cwd=tmp_path, offline=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CM_GIT_REPO_VERSION=one" in done.stdout  # the tag the plan asked for
    # a revision the mirror does not have is a need the bundle lacks
    command.append("--env.CM_GIT_CHECKOUT=v9")
    done = _run(command, dict(os.environ), cwd=tmp_path, offline=True)
    assert done.returncode == 1 and f"get-git-repo: git {url} (v9)" in done.stderr, done.stderr
    assert mirror.requests == []


def test_a_users_own_model_is_used_in_place_and_a_wrong_one_names_both_checksums(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], home: Path
) -> None:
    files = resnet50_files(tmp_path)
    request = "app mlperf inference mlperf-inference-onnx _resnet50 _offline _accuracy"
    given = [f"--env.CM_ML_MODEL_RESNET50_LOCAL_PATH={files['model']}",
             f"--env.CM_DATASET_IMAGENET_PATH={files['images']}"]  # fmt: skip
    md5 = _digest(files["model"], "md5")
    bundle = tmp_path / "bundle"
    checksum = f"--env.CM_ML_MODEL_RESNET50_CHECKSUM={md5}"
    code, out, err = cli("prefetch", request, *given, checksum, f"--out={bundle}")
    assert code == 0, err
    assert not [x for x in out.splitlines() if x.startswith("added   download")]  # not fetched
    code, out, err = cli("run", request, *given, checksum)
    assert code == 0, err + capfd.readouterr().err[-2000:]
    (entry,) = (home / "cache" / "get-ml-model-resnet50-onnx").glob("*/cmsm-result.json")
    exports = json.loads(entry.read_text())["new_env"]
    assert exports["CM_ML_MODEL_FILE_WITH_PATH"] == str(files["model"])  # itself, not a copy
    wrong = "0" * 32
    code, out, err = cli("run", request, *given, f"--env.CM_ML_MODEL_RESNET50_CHECKSUM={wrong}")
    printed = err + capfd.readouterr().err
    assert code == 2
    assert f"{files['model']}: MD5 is {md5}, expected {wrong}" in printed
