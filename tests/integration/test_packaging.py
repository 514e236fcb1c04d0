"""A wheel built from the source tree installs the whole package: every module, the bundled
repository and the rule file, without setuptools warnings about package discovery."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# setuptools >= 61: "Package 'x' is absent from the `packages` configuration" ("importable
# package"); older: "Installing 'x' as data is deprecated, please list it in `packages`".
DISCOVERY_WARNING = re.compile(
    r"absent from the .packages. configuration|as an importable package|as data is deprecated"
)


def _backend_is_installed() -> bool:
    """Whether setuptools here builds wheels by itself (>= 70.1) or with ``wheel``."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(p) for p in version.split(".")[:2])
    if (major, minor) < (64, 0):  # pyproject's build-system requires
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _source_copy(dest: Path) -> Path:
    """What a checkout ships (no build/, egg-info or byte code left by other builds)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("setup.cfg", "pyproject.toml", "README.md", "MANIFEST.in"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "cm_snakemake", dest / "cm_snakemake", ignore=skip)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, and the build's whole output (verbose: setuptools' own messages)."""
    src = _source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(src)]
    if _backend_is_installed():
        command.insert(4, "--no-build-isolation")  # no download needed
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    (wheel,) = out.glob("cm_snakemake-*.whl")
    return wheel, log


def test_the_build_warns_about_no_package(built: tuple[Path, str]) -> None:
    _, log = built
    warnings = [line.strip() for line in log.splitlines() if DISCOVERY_WARNING.search(line)]
    assert warnings == []


def test_the_wheel_holds_every_module_and_the_data(built: tuple[Path, str]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    package = ROOT / "cm_snakemake"
    shipped = {
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    modules = {n for n in shipped if n.endswith(".py")}
    assert len(modules) > 50
    assert modules - names == set()
    data = {
        "cm_snakemake/py.typed",
        "cm_snakemake/compile/cm.smk",
        "cm_snakemake/repo/cmr.yaml",
        "cm_snakemake/repo/script/detect-os/_cm.yaml",
        "cm_snakemake/repo/script/detect-os/run.sh",
    }
    assert data - names == set()
    assert shipped - names == set()  # every file of the source package, scripts' too
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_an_installed_wheel_finds_its_bundled_scripts(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Unpacked (what a non-editable install puts in site-packages), ahead of the editable
    checkout on the path: the bundled repository is found inside the installed package."""
    wheel, _ = built
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "CMSM_HOME": str(tmp_path / "home")}
    code = (
        "import cm_snakemake, sys; print(cm_snakemake.__file__); "
        "from cm_snakemake.cli.main import main; "
        "sys.exit(main(['find', 'detect os']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    module, found = proc.stdout.splitlines()[:2]
    assert module.startswith(str(site))
    assert found == str(site / "cm_snakemake" / "repo" / "script" / "detect-os")
