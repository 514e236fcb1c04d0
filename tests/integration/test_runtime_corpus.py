"""Real corpus scripts run by the runtime, compared with what CM 4.2.0 exports for them.

``tests/data/cm_run_golden.json`` holds what real CM (``cmind`` 4.2.0 from the package index)
exported on a machine of this kind for each request, run in order with one cache;
``tests/data/make_cm_run_golden.py`` says how it was produced. As there, a fresh virtual
environment is first on ``PATH``, so ``get,python3`` finds it and package installs go into it.
For each case the test compares the exported keys (new_env and new_state), whether the result
came from the cache, and every value that does not depend on where things were created. Where CM
failed, the runtime must fail too, with a message that names the script (or, when no script
matches, the tags).

The download cases fetch from a local HTTP server, as in the generator: ``http.server`` on
127.0.0.1 (a free port) serving the files recorded in the golden data (``http_server``) from
``<tmp>/www``; ``<url>`` in a case's tags and inputs stands for its base URL.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.runtime.runner import NodeResult

from ..conftest import DATA
from . import goldens

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

GOLDEN = json.loads((DATA / "cm_run_golden.json").read_text())
CASES = GOLDEN["cases"]
SERVER = GOLDEN["http_server"]


@pytest.fixture(scope="module")
def world(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return goldens.make_world(corpus, tmp_path_factory.mktemp("runtime"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(world: dict[str, Any]) -> Iterator[str]:
    """Serve the golden data's files from ``<tmp>/www``; yield the base URL."""
    folder = Path(SERVER["folder"].replace("<tmp>", str(world["root"])))
    folder.mkdir(parents=True)
    for name, file in SERVER["files"].items():
        (folder / name).write_bytes(base64.b64decode(file["base64"]))
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _run(
    world: dict[str, Any], url: str, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> NodeResult:
    placeholders = {"<tmp>": str(world["root"]), SERVER["placeholder"]: url}
    tags, inputs = (goldens.substitute(case[k], placeholders) for k in ("tags", "inputs"))
    return goldens.run_case(world, case["id"], tags, inputs, monkeypatch)


def _check_error_message(case: dict[str, Any], message: str) -> None:
    """A failure names the script that failed: the one requested or one CM's error names.

    When no script matches, it names the requested tags instead.
    """
    if case["script"] is None:
        tags = [t for t in case["tags"].split(",") if t and not t.startswith("_")]
        assert all(t in message for t in tags), (tags, message)
        return
    names = {case["script"], *re.findall(r"name = ([\w.-]+)", case["error"] or "")}
    assert any(name in message for name in names), (sorted(names), message)


def _comparable(case: dict[str, Any], key: str) -> bool:
    kinds = case.get("value_kinds") or {}
    return key not in set(case.get("tmp_dependent_keys") or []) and kinds.get(key) != "path"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_exports_agree_with_cm(
    world: dict[str, Any], server: str, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if case["returncode"] != 0:
        with pytest.raises(CMSnakemakeError) as failure:
            _run(world, server, case, monkeypatch)
        _check_error_message(case, str(failure.value))
        return
    result = _run(world, server, case, monkeypatch)
    world["results"][case["id"]] = result
    assert sorted(result.new_env) == sorted(case["new_env"])
    assert sorted(result.new_state) == sorted(case["new_state"])
    assert result.from_cache == case["cached"]
    differing = {
        k: (result.new_env[k], v)
        for k, v in case["new_env"].items()
        if _comparable(case, k)
        and result.new_env[k] != v
        and not goldens.host_difference(result.new_env[k], v)  # the recorder's kernel, CPU
    }
    assert differing == {}
    if case["id"].endswith("-second"):  # a cache hit returns what the first run stored
        base = case["id"][: -len("-second")]
        first = world["results"].get(base) or world["results"][f"{base}-first"]
        assert result.new_env == first.new_env
