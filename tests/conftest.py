"""Shared fixtures: a private home folder, small script repositories and the real corpus."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cm_snakemake.cli.main import main

CORPUS_SPEC = "cmx4mlops==1.0.1"
DATA = Path(__file__).resolve().parent / "data"
MLC_CORPUS_TARBALL = "mlperf-automations-20d3d94c.tar.gz"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give every test its own $CMSM_HOME (registry, index, cache) and working directory.

    Scripts that are not cached run in the current directory, as under CM.
    """
    path = tmp_path / "cmsm-home"
    monkeypatch.setenv("CMSM_HOME", str(path))
    monkeypatch.delenv("CMSM_CACHE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield path


RepoMaker = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoMaker:
    """Write a CM-dialect repository: ``make_repo("name", {"alias": "yaml text"})``."""

    def make(
        name: str, scripts: dict[str, str], *, prefix: str = "", files: dict[str, str] | None = None
    ) -> Path:
        root = tmp_path / name
        root.mkdir()
        cmr = f"alias: {name}\nuid: {abs(hash(name)) % 16**16:016x}\n"
        if prefix:
            cmr += f"prefix: {prefix}\n"
        (root / "cmr.yaml").write_text(cmr)
        base = root / prefix / "script" if prefix else root / "script"
        base.mkdir(parents=True)
        for alias, text in scripts.items():
            folder = base / alias
            folder.mkdir()
            (folder / "_cm.yaml").write_text(textwrap.dedent(text))
        for rel, text in (files or {}).items():
            (base / rel).write_text(textwrap.dedent(text))
        return root

    return make


def cli(*argv: str) -> tuple[int, str, str]:
    """Run the command line in-process; return exit code, standard output and error."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _test_cache() -> Path:
    default = Path.home() / ".cache" / "cm-snakemake-tests"
    return Path(os.environ.get("CMSM_TEST_CACHE", default))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real cmx4mlops 1.0.1 repository, downloaded once with pip and unpacked.

    Returns the repository root (the folder holding ``cmr.yaml``).
    """
    cache = _test_cache()
    target = cache / "cmx4mlops-1.0.1"
    root = target / "cmx4mlops"
    if not (root / "cmr.yaml").is_file():
        wheels = cache / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                CORPUS_SPEC,
                "-d",
                str(wheels),
            ],
            check=True,
        )
        wheel = next(wheels.glob("cmx4mlops-1.0.1-*.whl"))
        tmp = cache / f".unpack-{os.getpid()}"
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return root


def _mlc_corpus_candidates() -> list[Path]:
    """Where the MLC corpus snapshot is looked for, in order."""
    given = os.environ.get("CMSM_MLC_CORPUS")
    if given:
        return [Path(given)]
    repo_root = Path(__file__).resolve().parent.parent
    return [
        repo_root.parent / "shared" / "corpora" / MLC_CORPUS_TARBALL,
        Path("/work/shared/corpora") / MLC_CORPUS_TARBALL,
    ]


@pytest.fixture(scope="session")
def mlc_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MLC script corpus (mlcommons/mlperf-automations at 20d3d94c), unpacked afresh.

    The snapshot tarball is ``$CMSM_MLC_CORPUS`` if set, else ``<repo>/../shared/corpora/`` or
    ``/work/shared/corpora/`` ``mlperf-automations-20d3d94c.tar.gz``. It is unpacked into a
    temporary folder of this session (scripts write into their own folders when they run).
    Returns the repository root, the folder holding ``meta.yaml`` and ``script/`` (what
    ``mlc add repo`` registers and :func:`cm_snakemake.index.repos.open_repository` opens).
    """
    tried = _mlc_corpus_candidates()
    tarball = next((p for p in tried if p.is_file()), None)
    if tarball is None:
        pytest.skip(
            "no MLC corpus snapshot: tried "
            + ", ".join(str(p) for p in tried)
            + "; set CMSM_MLC_CORPUS to the path of "
            + MLC_CORPUS_TARBALL
        )
    target = tmp_path_factory.mktemp("mlc-corpus")
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    root = target / "mlperf-automations"
    if not (root / "meta.yaml").is_file() or not (root / "script").is_dir():
        pytest.fail(f"{tarball}: no mlperf-automations/meta.yaml and script/ in it")
    return root


def _slurm_up() -> bool:
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mixed", "alloc"))


@pytest.fixture
def slurm() -> None:
    if not _slurm_up():
        if os.environ.get("CI"):
            pytest.fail("CI must start the test cluster (tests/slurm/start-slurm.sh)")
        pytest.skip("no SLURM cluster here; start one with tests/slurm/start-slurm.sh")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the cases each fuzzing target ran (``tests/unit/test_fuzz.py``) and what the
    controller kills did (``tests/integration/test_kill.py``), if they ran."""
    counts = sys.modules.get(f"{__package__}.fuzzcount")
    line = counts.summary() if counts is not None else ""
    if line:
        terminalreporter.write_line(line)
    kills = sys.modules.get(f"{__package__}.soak.killrun")  # tests/integration/test_kill.py
    for report in getattr(kills, "REPORTS", []):
        terminalreporter.write_line(f"controller kills: {report}")


CHECKER_SUBSET = "v6.1-b66003e"


def checker_source_candidates() -> list[Path]:
    """Where MLCommons' inference source with the v6.1 submission checker is looked for."""
    found = [Path(os.environ["CMSM_CHECKER_SRC"])] if os.environ.get("CMSM_CHECKER_SRC") else []
    repo = Path(__file__).resolve().parents[1]
    return [
        *found,
        repo.parent / "shared" / "mlperf-inference" / CHECKER_SUBSET,
        Path("/work/shared/mlperf-inference") / CHECKER_SUBSET,  # a clone elsewhere on this machine
    ]


def checker_source() -> Path | None:
    """The first candidate holding ``tools/submission/submission_checker`` (None: none)."""
    for path in checker_source_candidates():
        if (path / "tools" / "submission" / "submission_checker" / "main.py").is_file():
            return path
    return None


def no_checker_reason() -> str:
    tried = ", ".join(str(p) for p in checker_source_candidates())
    return (
        f"no MLCommons inference source with the submission checker (tried {tried}; set "
        "CMSM_CHECKER_SRC)"
    )
