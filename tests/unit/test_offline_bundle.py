"""The prefetch bundle: its manifest, how a need is looked up, what a run's env is given, and
prefetch's checks (file:// URLs: no server needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.offline.bundle import Bundle, OfflineMissing
from cm_snakemake.offline.prefetch import PrefetchError, prefetch
from cm_snakemake.plan.network import NetworkNeed


def _need(url: str, detail: str, kind: str = "download") -> NetworkNeed:
    return NetworkNeed("k" * 32, "download-file-verified", kind, url, detail, True)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "mirror" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(b"weights" * 100)
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_download_is_fetched_verified_and_found(tmp_path: Path, source: Path) -> None:
    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    need = _need(source.as_uri(), f"md5:{_md5(source)}")
    report = prefetch([need, need], bundle)
    assert [i.source for i in report.added] == [source.as_uri()]  # once, though asked twice
    item = report.added[0]
    assert item.size == source.stat().st_size
    assert item.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (tmp_path / "b" / item.path).read_bytes() == source.read_bytes()
    again = Bundle.open(str(tmp_path / "b"))  # the manifest, read back
    assert again.find(need) == item
    # a second prefetch adds nothing
    assert prefetch([need], again).added == []
    # another checksum for the same URL is another file: not this one
    assert again.find(_need(source.as_uri(), "md5:" + "0" * 32)) is None
    assert again.missing([_need(source.as_uri(), "md5:" + "0" * 32)])


def test_a_checksum_mismatch_adds_nothing_and_names_both(tmp_path: Path, source: Path) -> None:
    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    with pytest.raises(PrefetchError) as caught:
        prefetch([_need(source.as_uri(), "md5:" + "0" * 32)], bundle)
    assert f"MD5 is {_md5(source)}, the plan expects {'0' * 32}" in caught.value.message
    assert list((tmp_path / "b" / "files").iterdir()) == []  # no partial file left
    assert bundle.items == []


def test_a_run_gets_the_bundles_file_and_pip_folder(tmp_path: Path, source: Path) -> None:
    from cm_snakemake.offline.bundle import Item

    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    (tmp_path / "b" / "files").mkdir(parents=True)
    (tmp_path / "b" / "files" / "model.onnx").write_bytes(source.read_bytes())
    url = "https://example.org/model.onnx"  # a file:// URL is local: no need at all
    bundle.add(Item("download", url, "files/model.onnx", 700, checksum=f"md5:{_md5(source)}"))
    env = {"CM_DOWNLOAD_URL": url, "CM_DOWNLOAD_CHECKSUM": _md5(source)}
    bundle.apply("k" * 32, "download-file-verified", env, {}, "CM_")
    assert env["CM_DOWNLOAD_LOCAL_FILE_PATH"] == str(tmp_path / "b" / "files" / "model.onnx")
    assert env["PIP_NO_INDEX"] == "1" and env["PIP_FIND_LINKS"] == str(tmp_path / "b" / "pip")
    # a URL decided at run time that the bundle lacks: the error names it and what to do
    other = {"CM_DOWNLOAD_URL": "https://example.org/other.bin"}
    with pytest.raises(OfflineMissing) as caught:
        bundle.apply("k" * 32, "download-file-verified", other, {}, "CM_", request="get x")
    text = caught.value.render()
    assert "download-file-verified: download https://example.org/other.bin (no checksum)" in text
    assert f'cm-snakemake prefetch "get x" --out={tmp_path / "b"}' in text
    assert "CM_DOWNLOAD_LOCAL_FILE_PATH" not in other


def test_a_missing_bundle_or_a_broken_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CMSnakemakeError) as caught:
        Bundle.open(str(tmp_path / "none"))
    assert "does not exist" in caught.value.message and "prefetch" in str(caught.value.hint)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text("{not json")
    with pytest.raises(CMSnakemakeError) as caught:
        Bundle.open(str(tmp_path / "b"))
    assert "manifest.json cannot be read" in caught.value.message
    (tmp_path / "b" / "manifest.json").write_text(json.dumps({"format": 9, "items": []}))
    with pytest.raises(CMSnakemakeError) as caught:
        Bundle.open(str(tmp_path / "b"))
    assert "format 9, expected 1" in caught.value.message


def test_pip_needs_match_their_requirement_with_its_constraints(tmp_path: Path) -> None:
    from cm_snakemake.offline.bundle import Item

    bundle = Bundle.open(str(tmp_path / "b"), create=True)

    bundle.add(Item("pip", "numpy<=1.26.4", "pip", 1))
    assert bundle.find(_need("numpy <=1.26.4", "unless installed", "pip")) is not None
    assert bundle.find(_need("NumPy<=1.26.4", "unless installed", "pip")) is not None
    assert bundle.find(_need("numpy", "unless installed", "pip")) is None
    # a run-time need is not checked before the run (the run checks it when it is decided)
    undecided = NetworkNeed("k" * 32, "x", "pip", "decided by a hook", "", False)
    assert bundle.missing([undecided]) == []


def test_an_unreachable_url_keeps_what_was_fetched(tmp_path: Path, source: Path) -> None:
    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    good = _need(source.as_uri(), f"md5:{_md5(source)}")
    bad = _need((tmp_path / "gone.bin").as_uri(), "")
    with pytest.raises(PrefetchError) as caught:
        prefetch([good, bad], bundle)
    assert "cannot download" in caught.value.message and "gone.bin" in caught.value.message
    assert [i.source for i in Bundle.open(str(tmp_path / "b")).items] == [source.as_uri()]


def test_pip_files_gone_from_the_bundle_make_the_item_missing(tmp_path: Path) -> None:
    from cm_snakemake.offline.bundle import Item

    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    wheel = tmp_path / "b" / "pip" / "x-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"wheel")
    files = ({"path": "pip/x-1.0-py3-none-any.whl", "sha256": "", "size": 5},)
    bundle.add(Item("pip", "x", "pip", 5, files=files))
    need = _need("x", "unless installed", "pip")
    assert bundle.find(need) is not None
    wheel.write_bytes(b"whe")  # truncated on its way
    assert bundle.find(need) is None


def test_a_bundle_holds_wheels_for_one_python(tmp_path: Path) -> None:
    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    bundle.pip_target = {"version": "3.12", "abi": "cp312", "platforms": ["manylinux_2_28_x86_64"]}
    with pytest.raises(PrefetchError) as caught:
        prefetch([_need("x", "unless installed", "pip")], bundle)  # for this machine's Python
    assert "pip packages for another Python (3.12 on manylinux_2_28_x86_64)" in str(caught.value)


def test_a_failed_git_prefetch_keeps_the_mirror_it_had(tmp_path: Path) -> None:
    import subprocess

    source = tmp_path / "src"
    source.mkdir()
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (source / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "1"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    url = str(source)  # prefetch clones any URL; plans leave local paths out
    bundle = Bundle.open(str(tmp_path / "b"), create=True)
    first = NetworkNeed("k" * 32, "get-git-repo", "git", url, "v1", True)
    prefetch([first], bundle)
    assert bundle.find(first) is not None
    later = NetworkNeed("k" * 32, "get-git-repo", "git", url, "v9", True)
    with pytest.raises(PrefetchError) as caught:
        prefetch([later], bundle)
    assert "revision v9" in caught.value.message
    assert bundle.find(first) is not None  # the mirror is still there
