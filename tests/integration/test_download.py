"""The bundled download-file-verified script: file:// mirrors, checksums, resuming an
interrupted HTTP download, the offline message, and a local copy given with --from."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import cli

SCRIPT = "download-file-verified"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(256 * 1024)
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path, data


def run(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``run(capfd, ...)``; the error text includes what the script printed."""
    capfd.readouterr()
    code, out, err = cli("run", SCRIPT, *args)
    return code, out, err + capfd.readouterr().err


def exported(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("CM_DOWNLOAD"))


def cache_entries(home: Path) -> list[Path]:
    return sorted((home / "cache" / SCRIPT).glob("*/cmsm-result.json"))


def test_a_file_url_is_downloaded_and_verified(
    capfd: pytest.CaptureFixture[str], payload: tuple[Path, bytes], home: Path
) -> None:
    path, data = payload
    code, out, err = run(capfd, f"--url={path.as_uri()}", f"--sha256={sha256(data)}")
    assert code == 0, err
    got = Path(exported(out)["CM_DOWNLOAD_DOWNLOADED_PATH"])
    assert got.read_bytes() == data and got.is_relative_to(home / "cache")
    assert exported(out)["CM_DOWNLOAD_CHECKSUM_VERIFIED"] == f"sha256:{sha256(data)}"


def test_a_checksum_mismatch_fails_and_leaves_no_trusted_entry(
    capfd: pytest.CaptureFixture[str], payload: tuple[Path, bytes], home: Path
) -> None:
    path, data = payload
    wrong = "0" * 64
    code, _, err = run(capfd, f"--url={path.as_uri()}", f"--sha256={wrong}")
    assert code == 2
    assert f"SHA-256 mismatch: expected {wrong}, got {sha256(data)}" in err
    assert path.as_uri() in err and "--from=PATH" in err
    assert cache_entries(home) == []
    # the right checksum then works, from the start (the bad file is not resumed)
    code, out, err = run(capfd, f"--url={path.as_uri()}", f"--sha256={sha256(data)}")
    assert code == 0, err
    assert Path(exported(out)["CM_DOWNLOAD_DOWNLOADED_PATH"]).read_bytes() == data


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Serves DATA; the first request is cut off half-way; Range requests get a 206."""

    data = b""
    ranges: list[str | None] = []  # noqa: RUF012 - one server per test, reset there

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        type(self).ranges.append(wanted)
        start = int(wanted.split("=")[1].rstrip("-")) if wanted else 0
        body = self.data[start:]
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(type(self).ranges) == 1:  # first request: half the file, then the line drops
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_server(payload: tuple[Path, bytes]) -> Iterator[str]:
    _Flaky.data = payload[1]
    _Flaky.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/resnet50_v1.onnx"
    server.shutdown()
    server.server_close()


def test_an_interrupted_download_resumes(
    capfd: pytest.CaptureFixture[str], flaky_server: str, payload: tuple[Path, bytes], home: Path
) -> None:
    data = payload[1]
    code, _, err = run(capfd, f"--url={flaky_server}", f"--sha256={sha256(data)}")
    assert code == 2 and "interrupted after" in err and "run again to resume" in err, err[:800]
    assert cache_entries(home) == []
    code, out, err = run(capfd, f"--url={flaky_server}", f"--sha256={sha256(data)}")
    assert code == 0, err
    assert Path(exported(out)["CM_DOWNLOAD_DOWNLOADED_PATH"]).read_bytes() == data
    assert _Flaky.ranges == [None, f"bytes={len(data) // 2}-"]  # continued, not restarted


def test_offline_names_the_url_the_checksum_and_the_local_copy_option(
    capfd: pytest.CaptureFixture[str], home: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/resnet50_v1.onnx"
    code, _, err = run(capfd, f"--url={url}", f"--sha256={'ab' * 32}")
    assert code == 2
    assert f"cannot download {url}" in err and "offline" in err
    assert "--from=PATH" in err and f"SHA-256 {'ab' * 32}" in err
    assert "file:///mirror/resnet50_v1.onnx" in err


def test_a_local_copy_is_verified_not_copied(
    capfd: pytest.CaptureFixture[str], payload: tuple[Path, bytes]
) -> None:
    path, data = payload
    code, out, err = run(capfd, f"--from={path}", f"--sha256={sha256(data)}")
    assert code == 0, err
    assert exported(out)["CM_DOWNLOAD_DOWNLOADED_PATH"] == str(path)
    code, _, err = run(capfd, f"--from={path}", f"--sha256={'1' * 64}")
    assert code == 2 and f"SHA-256 is {sha256(data)}, expected {'1' * 64}" in err


def test_a_partial_file_download_is_continued_not_restarted(
    capfd: pytest.CaptureFixture[str], payload: tuple[Path, bytes], home: Path
) -> None:
    path, data = payload
    half = len(data) // 2
    kept = bytes(b ^ 0xFF for b in data[:half])  # differs from the source's first half
    expected = sha256(kept + data[half:])  # right only if the rest is appended to what is kept
    url = path.as_uri()
    # where an interrupted attempt leaves its bytes (outside the cache entry, which a failed
    # build loses): $CMSM_HOME/downloads/<hash of URL and checksum>-<name>.part
    tag = hashlib.sha256(f"{url}\n{expected}".encode()).hexdigest()[:24]
    part = home / "downloads" / f"{tag}-{path.name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(kept)
    code, out, err = run(capfd, f"--url={url}", f"--sha256={expected}")
    assert code == 0, err
    assert Path(exported(out)["CM_DOWNLOAD_DOWNLOADED_PATH"]).read_bytes() == kept + data[half:]
    assert not part.exists()
