"""Download CM_DOWNLOAD_URL into the current folder, resumably, and verify its SHA-256."""

import fcntl
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request

CHUNK = 1 << 20


class DownloadError(Exception):
    pass


def digest_of(path: str, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def setting(name: str) -> str:
    """An env value; one still holding a ``<<<VAR>>>`` placeholder counts as unset."""
    value = os.environ.get(name, "").strip()
    return "" if "<<<" in value else value


def partial_dir() -> str:
    home = os.environ.get("CMSM_HOME") or os.path.join(os.path.expanduser("~"), ".cm-snakemake")
    return os.environ.get("CMSM_DOWNLOADS") or os.path.join(home, "downloads")


def how_to_help(url: str, algorithm: str, expected: str) -> str:
    name = "SHA-256" if algorithm == "sha256" else "MD5"
    return (
        f"To use a copy you have: --from=PATH (or --env.CM_DOWNLOAD_LOCAL_FILE_PATH=PATH); "
        f"from a mirror: --url=file:///mirror/{os.path.basename(url) or 'FILE'}. "
        f"The file must have {name} {expected or '(none given)'}."
    )


def wanted_checksum() -> tuple[str, str]:
    """(algorithm, expected hex digest): SHA-256 from CM_DOWNLOAD_SHA256, else CM's MD5 key
    CM_DOWNLOAD_CHECKSUM; ("sha256", "") when neither is set."""
    sha = setting("CM_DOWNLOAD_SHA256").lower()
    md5 = setting("CM_DOWNLOAD_CHECKSUM").lower()
    if sha or not md5:
        return "sha256", sha
    return "md5", md5


def fetch(url: str, part: str) -> None:
    """Append the rest of ``url`` to ``part`` (resuming from its size)."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        source = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
        if not os.path.isfile(source):
            raise DownloadError(f"{url}: no such file")
        with open(source, "rb") as src, open(part, "ab") as dst:
            src.seek(offset)
            shutil.copyfileobj(src, dst, CHUNK)
        return
    if scheme not in ("http", "https"):
        raise DownloadError(f"{url}: unsupported URL scheme {scheme!r} (http, https, file)")
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = bool(offset) and response.status == 206  # 200: the server starts over
            length = response.headers.get("Content-Length")
            with open(part, "ab" if resumed else "wb") as dst:
                shutil.copyfileobj(response, dst, CHUNK)
            received = os.path.getsize(part) - (offset if resumed else 0)
            if length is not None and received < int(length):
                # a dropped connection reads as a short body, not as an error
                raise ConnectionError(f"got {received} of {length} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file is already complete
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        done = os.path.getsize(part) if os.path.exists(part) else 0
        if done > offset:
            raise DownloadError(
                f"{url}: interrupted after {done} bytes ({exc}); run again to "
                "resume where it stopped"
            ) from exc
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {url}: {reason} (offline, or the host is unreachable)"
        ) from exc


def main() -> int:
    url = setting("CM_DOWNLOAD_URL")
    algorithm, expected = wanted_checksum()
    label = "SHA-256" if algorithm == "sha256" else "MD5"
    local = setting("CM_DOWNLOAD_LOCAL_FILE_PATH")
    try:
        if local:
            if not os.path.isfile(local):
                raise DownloadError(f"--from={local}: no such file")
            path = os.path.abspath(local)
            actual = digest_of(path, algorithm)
            if expected and actual != expected:
                raise DownloadError(
                    f"{path}: {label} is {actual}, expected {expected}; is it the right file?"
                )
        else:
            if not url:
                raise DownloadError("no URL: give --url=URL (or --from=PATH)")
            name = (
                setting("CM_DOWNLOAD_FILENAME")
                or os.path.basename(urllib.parse.urlparse(url).path)
                or "download"
            )
            folder = partial_dir()
            os.makedirs(folder, exist_ok=True)
            tag = hashlib.sha256(f"{url}\n{expected}".encode()).hexdigest()[:24]
            part = os.path.join(folder, f"{tag}-{name}.part")
            with open(part + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one download of a file at a time
                fetch(url, part)
                actual = digest_of(part, algorithm)
                if expected and actual != expected:
                    os.replace(part, part + ".bad")  # never resumed, never trusted
                    raise DownloadError(
                        f"{url}: {label} mismatch: expected {expected}, got "
                        f"{actual} (the file is kept as {part}.bad); check the "
                        "URL and the checksum"
                    )
                path = os.path.join(os.getcwd(), name)
                shutil.move(part, path)
    except DownloadError as exc:
        print(
            f"download-file-verified: {exc}\n{how_to_help(url, algorithm, expected)}",
            file=sys.stderr,
        )
        return 1
    with open("tmp-run-env.out", "a", encoding="utf-8") as fh:
        fh.write(f"CM_DOWNLOAD_DOWNLOADED_PATH={path}\n")
        fh.write(f"CM_DOWNLOAD_CHECKSUM_VERIFIED={f'{algorithm}:{actual}' if expected else ''}\n")
    print(f"{path}: {label} {actual}" + (" (verified)" if expected else " (no checksum given)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
