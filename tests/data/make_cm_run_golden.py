#!/usr/bin/env python3
"""Produce golden data for ``cm run script --tags=...`` from real MLCommons CM.

This writes ``cm_run_golden.json`` (next to this file by default): what the
real CM 4.x script runtime (``cmind`` from PyPI + the cmx4mlops corpus's own
``automation/script/module.py``) returns to the caller for
``cmind.access({'action': 'run', 'automation': 'script', 'tags': <tags>,
'quiet': True, **inputs})``, i.e. the exported ``new_env`` / ``new_state``
(plus the returned ``deps`` list), for each request in ``CASES`` below.
Unlike ``cm find``, this really executes the scripts (shell + customize.py)
on this machine, so values are machine-specific; see ``value_kinds``.

How to reproduce ``tests/data/cm_run_golden.json``
--------------------------------------------------

1. Install the reference CM in a private venv (the golden file was made with
   cmind 4.2.0, the latest 4.x on PyPI at the time)::

       python3 -m venv /tmp/cmvenv
       /tmp/cmvenv/bin/pip install cmind==4.2.0

2. Unpack the corpus wheel (cmx4mlops 1.0.1 from PyPI) so that
   ``<corpus>/cmr.yaml`` (``prefix: repo``) and ``<corpus>/repo/script/*``
   exist::

       /tmp/cmvenv/bin/pip download --no-deps cmx4mlops==1.0.1 -d /tmp/corpus
       python3 -m zipfile -e /tmp/corpus/cmx4mlops-1.0.1-py3-none-any.whl \\
           /tmp/corpus/unpacked
       # corpus path: /tmp/corpus/unpacked/cmx4mlops

3. From the repository root run, WITH CM'S PYTHON (the children import
   ``cmind``)::

       /tmp/cmvenv/bin/python tests/data/make_cm_run_golden.py \\
           --corpus /tmp/corpus/unpacked/cmx4mlops

   Needs: network access to PyPI only (numpy, pyyaml, tabulate and virtualenv
   are pip-installed into a throw-away venv); gcc/g++, cmake, java/javac,
   openssl, xz, md5sum, tar, unzip, wget (optional: without it the ``_wget``
   cases are left out) and docker (the client binary only) on PATH; Linux.
   Takes ~60 s.
   ``--only ID[,ID...]`` runs a subset (note: later cases rely on the cache
   state left by earlier ones), ``--keep`` keeps the temp dir (with one log
   per case in ``<tmp>/logs``).
   ``--out FILE`` writes elsewhere. What it shares with the other
   generators here is in ``golden_runs.py``, imported from this folder
   (stdlib only).

What the script does
--------------------

* Creates a temp dir ``<tmp>`` (recorded as ``tmp_root``) and copies the
  corpus into it (the original is never touched).
* Creates a fresh venv ``<tmp>/pyvenv`` with ``--base-python`` (default: the
  first ``python3`` on PATH) and puts ``<tmp>/pyvenv/bin`` FIRST on PATH for
  every CM run.  CM's ``get-python3`` searches PATH for ``python3``, so it
  detects the venv's python, and every ``get-generic-python-lib`` pip install
  goes into that venv instead of polluting the system python.  (Passing
  ``env.CM_PYTHON_BIN_WITH_PATH`` or ``_custom-path.#`` also works but changes
  what ``get,python3`` exports/caches; PATH keeps the requests plain.)
* Every CM run happens in its own child process
  (``<this python> make_cm_run_golden.py --child ...``) with a scrubbed
  environment: all ``CM_*`` variables removed, ``CM_REPOS=<tmp>/cmhome``
  (private CM home, shared by all cases, so the CM cache persists from case
  to case in ``CASES`` order), ``CM_CORE_SKIP_INTERNAL_REPOS=yes``, stdin =
  /dev/null (a script that prompts fails instead of hanging), cwd = a fresh
  ``<tmp>/work/<case id>`` (non-cached scripts write their tmp files in cwd).
* Registers the corpus with ``cm import repo --path=<copy>`` first.
* Starts a local HTTP server (``http.server`` in a thread, 127.0.0.1, a free
  port) serving ``<tmp>/www``, where it writes the files of
  ``served_files()`` (a text file, a .tar.gz and a .zip, byte-for-byte
  deterministic).  The download cases fetch from it: CM's ``_cmutil`` tool
  uses ``requests``, which cannot read ``file://`` URLs.  ``<url>`` in a
  case's tags or inputs stands for the server's base URL
  (``http://127.0.0.1:<port>``, different on every run).
* The child calls ``cmind.access({'action': 'run', 'automation': 'script',
  'tags': tags, 'quiet': True, **inputs})`` and saves ``return``, ``error``,
  ``new_env``, ``new_state`` and ``deps`` as JSON.  The root logger is set to
  DEBUG (without passing ``v``/``verbose``, which would add ``CM_VERBOSE`` to
  env) to see CM's "Found cached script output" message.

Output fields per case
----------------------

* ``id``, ``tags``, ``inputs``: the request (``<tmp>`` is replaced by the
  real temp dir and ``<url>`` by the local server's base URL at run time).
* ``returncode``: CM's ``return`` value (0 = ok); ``error``: CM's ``error``
  text (or the child's traceback tail if it crashed), null when ok.
* ``new_env`` / ``new_state`` / ``deps``: exactly as returned (values are not
  normalised).  ``new_env`` is the env subset returned to the caller
  (filtered by the script's ``new_env_keys``).
* ``value_kinds``: for each ``new_env`` key: ``"path"`` (absolute path that
  existed on disk right after the run; for a list: every element), else
  ``"version"`` (looks like ``1.2`` / ``3.11.7`` / ``2.4.6rc1``; for a list:
  every element), else ``"text"``.
* ``tmp_dependent_keys``: ``new_env`` keys whose value contains ``tmp_root``
  (e.g. paths into a cache entry ``<tmp>/cmhome/repos/local/cache/<uid>``,
  whose uid is random) or the local server's URL.
* ``cached``: the top-level script was served from the CM cache (CM logged
  "Found cached script output" at recursion level 0).  ``cacheable``: the
  script meta has ``cache: true`` (null if no script ran).
  ``new_cache_entries``: scripts (alias + variation tags) for which this run
  created a cache entry.
* ``script``: alias of the script CM actually ran at the top level (from its
  "Found script::" debug message; null if none); ``candidates``: aliases of
  all corpus scripts whose tags contain the request's non-variation tags
  (CM picks one in quiet mode); ``seconds``: wall time of the child process.

Top-level ``http_server``: the placeholder, the URL of this run, the served
folder (``<tmp>/www``) and every served file (size, md5, base64 content), so
that a test can serve exactly the same bytes.
"""

import argparse
import base64
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import sys
import tarfile
import threading
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import golden_runs  # this folder's shared code (cm_snakemake is not installed here)

# --------------------------------------------------------------------------
# the files served over http://127.0.0.1:<port> (download cases)
# --------------------------------------------------------------------------
URL = "<url>"  # placeholder in inputs: the local server's base URL (differs per run)
SERVED_DIR = "<tmp>/www"  # the folder the local server serves
FILE_TIME = 1704067200  # 2024-01-01 00:00:00 UTC: fixed, so the archives are byte-identical


def served_files():
    """The files the local HTTP server serves: name -> bytes (deterministic)."""
    text = b"golden download test\n"
    inside = b"inside the golden archive\n"

    tar_buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=tar_buf, mode="wb", mtime=FILE_TIME) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        folder = tarfile.TarInfo("golden-archive")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = FILE_TIME
        tar.addfile(folder)
        member = tarfile.TarInfo("golden-archive/inside.txt")
        member.size = len(inside)
        member.mode = 0o644
        member.mtime = FILE_TIME
        tar.addfile(member, io.BytesIO(inside))

    zip_buf = io.BytesIO()
    with zipfile.ZipFile(zip_buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        stamp = time.gmtime(FILE_TIME)[:6]
        zf.writestr(zipfile.ZipInfo("golden-archive/", date_time=stamp), b"")
        info = zipfile.ZipInfo("golden-archive/inside.txt", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, inside)

    return {
        "hello.txt": text,
        "golden.tar.gz": tar_buf.getvalue(),
        "golden.zip": zip_buf.getvalue(),
    }


SERVED = served_files()
HELLO_MD5 = hashlib.md5(SERVED["hello.txt"]).hexdigest()
WRONG_MD5 = "0" * 32

# (id, tags, inputs, notes).  ORDER MATTERS: the CM cache is shared.
CASES = [
    ("detect-os", "detect,os", {}, "not cacheable; no deps"),
    ("detect-cpu", "detect,cpu", {}, "not cacheable; dep detect,os"),
    ("detect-cpu-second", "detect,cpu", {}, "same request again: not cacheable, runs again"),
    (
        "get-python3-first",
        "get,python3",
        {},
        "cache miss: detects <tmp>/pyvenv/bin/python3 via PATH",
    ),
    ("get-python3-second", "get,python3", {}, "same request again: cache hit"),
    (
        "get-python3-version-range",
        "get,python3",
        {"version_min": "3.0", "version_max": "99"},
        "version constraints the cached entry satisfies: cache hit",
    ),
    (
        "get-generic-python-lib-numpy",
        "get,generic-python-lib,_numpy",
        {},
        "cache miss: pip installs numpy into the venv (also creates the _pip entry)",
    ),
    (
        "get-generic-python-lib-numpy-second",
        "get,generic-python-lib,_numpy",
        {},
        "same request again: cache hit",
    ),
    (
        "get-generic-python-lib-package-pyyaml",
        "get,generic-python-lib,_package.pyyaml",
        {},
        "dynamic variation package.#; pip installs pyyaml; _pip dep is a cache hit",
    ),
    ("detect-sudo", "detect,sudo", {}, "runs as root here: CM_SUDO=''"),
    ("get-gcc", "get,gcc", {}, "cache miss; post_dep get,compiler-flags"),
    (
        "get-compiler",
        "get,compiler",
        {},
        "tags match get-gcc, get-llvm, get-cl, ...: served from the get-gcc cache entry "
        "created by the previous case (needs that order; on an empty cache CM would "
        "pick a script, possibly get-llvm -> install)",
    ),
    ("get-compiler-flags", "get,compiler-flags", {}, "not cacheable; dep get,compiler (cache hit)"),
    ("get-cmake", "get,cmake", {}, "cache miss; finds system cmake (no install)"),
    ("get-java", "get,java", {}, "cache miss; finds system java (no install)"),
    ("get-docker", "get,docker", {}, "cache miss; only `docker --version` (client binary)"),
    ("get-cache-dir", "get,cache,dir,_name.golden", {}, "value is the cache entry dir"),
    ("get-cache-dir-second", "get,cache,dir,_name.golden", {}, "same request again: cache hit"),
    (
        "get-cache-dir-env-name",
        "get,cache,dir,_name.golden-env",
        {"env": {"CM_CACHE_DIR_ENV_NAME": "CM_GOLDEN_CACHE_DIR"}},
        "new_env_keys has '<<<CM_CACHE_DIR_ENV_NAME>>>' -> exports CM_GOLDEN_CACHE_DIR",
    ),
    (
        "get-mlperf-results-dir",
        "get,mlperf,inference,results,dir",
        {},
        "default variation version.4_1-dev; dir = cache entry dir",
    ),
    (
        "get-mlperf-results-dir-input",
        "get,mlperf,inference,results,dir,_version.4_1",
        {"results_dir": "<tmp>/results"},
        "input_mapping results_dir -> CM_MLPERF_INFERENCE_RESULTS_DIR (dir need not exist)",
    ),
    ("print-hello-world", "print,hello-world", {}, "default_env + env; new_env_keys CM_ENV_TEST*"),
    (
        "print-hello-world-inputs",
        "print,hello-world,_text.golden",
        {"test1": "from-input", "env": {"CM_ENV_TEST3": "from-env", "CM_GOLDEN_OTHER": "x"}},
        "input_mapping test1 -> CM_ENV_TEST1; --env keys; which of them are exported",
    ),
    ("print-python-version", "print,python-version", {}, "no new_env_keys: exports nothing"),
    (
        "test-deps-conditions",
        "test,deps,conditions",
        {},
        "enable_if_env/skip_if_env on deps: see the returned deps list",
    ),
    (
        "create-custom-cache-entry",
        "create,custom,cache,entry",
        {"extra_cache_tags": "golden", "env_key": "GOLDEN", "path": "<tmp>/custom-entry"},
        "input_mapping env_key/path; without extra_cache_tags it prompts (input())",
    ),
    (
        "dump-pip-freeze",
        "dump,pip,freeze",
        {},
        "new_state pip_freeze = the packages of <tmp>/pyvenv at this point",
    ),
    (
        "install-python-venv",
        "install,python-venv",
        {"name": "golden"},
        "pip installs virtualenv into <tmp>/pyvenv, creates a venv in the cache "
        "entry; post_dep get,python3 registers it; new_state script_prefix",
    ),
    (
        "get-generic-python-lib-tabulate-max",
        "get,generic-python-lib,_package.tabulate",
        {"version_max": "0.8.10"},
        "pip install 'tabulate<=0.8.10' (CM_TMP_PIP_VERSION_STRING): installs 0.8.10",
    ),
    (
        "get-generic-python-lib-tabulate-min-satisfied",
        "get,generic-python-lib,_package.tabulate",
        {"version_min": "0.8"},
        "the 0.8.10 entry of the previous case satisfies >=0.8",
    ),
    (
        "get-generic-python-lib-tabulate-min",
        "get,generic-python-lib,_package.tabulate",
        {"version_min": "0.9"},
        "installed 0.8.10 is too old: pip install 'tabulate>=0.9' upgrades it",
    ),
    # ---- downloads from the local HTTP server (<url>, serving <tmp>/www) ----
    (
        "download-file-text",
        "download,file",
        {"url": URL + "/hello.txt"},
        "default tool _cmutil (cmind utils download_file, i.e. requests); not cacheable: "
        "the file lands in cwd",
    ),
    (
        "download-file-text-md5",
        "download,file",
        {
            "url": URL + "/hello.txt",
            "md5sum": HELLO_MD5,
            "env": {"CM_DOWNLOAD_FINAL_ENV_NAME": "CM_GOLDEN_DOWNLOADED"},
        },
        "md5sum -> CM_DOWNLOAD_CHECKSUM, checked after the download; "
        "new_env_keys '<<<CM_DOWNLOAD_FINAL_ENV_NAME>>>' -> exports CM_GOLDEN_DOWNLOADED",
    ),
    (
        "download-file-bad-md5",
        "download,file",
        {"url": URL + "/hello.txt", "md5sum": WRONG_MD5},
        "wrong checksum: md5sum -c fails after the download -> CM error",
    ),
    (
        "download-file-404",
        "download,file",
        {"url": URL + "/missing.txt"},
        "the server answers 404: download_file fails -> CM error",
    ),
    (
        "download-file-no-url",
        "download,file",
        {},
        "preprocess: 'please specify URL' -> CM error",
    ),
    (
        "download-file-wget",
        "download,file,_wget",
        {"url": URL + "/hello.txt"},
        "CM_DOWNLOAD_TOOL=wget: run.sh evals CM_DOWNLOAD_CMD (wget -nc ... -O 'hello.txt')",
    ),
    (
        "download-file-wget-md5",
        "download,file,_wget",
        {"url": URL + "/hello.txt", "md5sum": HELLO_MD5, "verify": "no"},
        "wget with checksum; verify=no -> CM_VERIFY_SSL=no adds --no-check-certificate",
    ),
    (
        "download-file-wget-bad-md5",
        "download,file,_wget",
        {"url": URL + "/hello.txt", "md5sum": WRONG_MD5},
        "wget, wrong checksum -> CM error",
    ),
    (
        "download-file-targz",
        "download,file",
        {"url": URL + "/golden.tar.gz"},
        "the archive lands in <tmp>/work/download-file-targz (used by the next case)",
    ),
    (
        "extract-file-targz",
        "extract,file",
        {
            "input": "<tmp>/work/download-file-targz/golden.tar.gz",
            "extra_folder": "unpacked",
        },
        "tar -C unpacked --skip-old-files -xvzf; no _keep: the archive is removed afterwards",
    ),
    (
        "extract-file-zip",
        "extract,file,_keep",
        {"input": SERVED_DIR + "/golden.zip", "to": "<tmp>/extracted-zip"},
        "unzip into extract_path <tmp>/extracted-zip (created); _keep keeps the archive",
    ),
    (
        "dae-targz",
        "download-and-extract,_extract",
        {"url": URL + "/golden.tar.gz"},
        "prehook dep download,file,_cmutil,_url.<url>/golden.tar.gz; posthook extract,file,"
        "_path.<downloaded path>; both in cwd",
    ),
    (
        "dae-zip-wget",
        "download-and-extract,_extract,_wget",
        {"url": URL + "/golden.zip", "extra_folder": "golden-zip"},
        "download with wget; CM_EXTRACT_TO_FOLDER reaches extract,file: unzip -d 'golden-zip'",
    ),
    (
        "download-file-cached",
        "download,file,_url." + URL + "/hello.txt",
        {"force_cache": True, "extra_cache_tags": "golden-download"},
        "can_force_cache + force_cache: cached, the file lands in the cache entry",
    ),
    (
        "download-file-cached-second",
        "download,file,_url." + URL + "/hello.txt",
        {"force_cache": True, "extra_cache_tags": "golden-download"},
        "same request again: cache hit",
    ),
    # ---- benchmark-program runs env CM_RUN_CMD (| tee console.out; PIPESTATUS) ----
    (
        "benchmark-program-ok",
        "benchmark-program",
        {
            "env": {
                "CM_RUN_CMD": "echo golden-benchmark",
                "CM_RUN_DIR": "<tmp>/work/benchmark-program-ok",
            }
        },
        "CM_RUN_CMD gets ' 2>&1 | tee <dir>/console.out; echo \\${PIPESTATUS[0]} > "
        "exitstatus' appended; run.sh evals it and exits with the exitstatus file",
    ),
    (
        "benchmark-program-fail",
        "benchmark-program",
        {
            "env": {
                "CM_RUN_CMD": "sh -c 'exit 3'",
                "CM_RUN_DIR": "<tmp>/work/benchmark-program-fail",
            }
        },
        "the command exits 3: PIPESTATUS[0]=3 -> exitstatus -> run.sh exits 3 -> CM error",
    ),
    # ---- more detection ----
    (
        "get-generic-sys-util-wget",
        "get,generic-sys-util,_wget",
        {},
        "detect mode: `wget --version`, CM_SYS_UTIL_VERSION_RE with group 0",
    ),
    (
        "get-generic-sys-util-xz",
        "get,generic-sys-util,_xz",
        {},
        "detect mode: `xz --version`, group 1",
    ),
    ("get-openssl", "get,openssl", {}, "find_artifact openssl on PATH; parse_version"),
    ("get-javac", "get,javac", {}, "finds system javac (no install)"),
    (
        "print-hello-world-py-no-cmind",
        "print,hello-world,python",
        {},
        "deps get,python3 (cache hit: since install-python-venv, the venv in its cache "
        "entry) and print,python-version; app.py imports cmind, which that python lacks "
        "(CM does not add its own to PYTHONPATH) -> CM error",
    ),
    (
        "print-hello-world-skip-print-env",
        "print,hello-world,_skip_print_env",
        {"env": {"CM_ENV_TEST_GOLDEN": "golden"}},
        "variation env + --env key matched by new_env_keys CM_ENV_TEST*",
    ),
    (
        "test-deps-conditions2",
        "test,deps,conditions2",
        {"test": "True"},
        "input_mapping test -> TEST; enable_if_env/skip_if_env TEST: [True]",
    ),
    (
        "get-gcc-version-min-fail",
        "get,gcc",
        {"version_min": "99"},
        "no gcc >= 99 on PATH; get-gcc has no install fallback -> CM error",
    ),
    (
        "get-generic-python-lib-tabulate-version-fail",
        "get,generic-python-lib,_package.tabulate",
        {"version": "99.0"},
        "installed 0.10.0 is not 99.0: pip install 'tabulate==99.0' finds no such "
        "version -> CM error (get,python3 --version_min=99 is left out: it runs "
        "install-python-src, which apt-installs packages when sudo exists)",
    ),
    (
        "error-unknown-tags",
        "get,golden-no-such-script",
        {},
        "no script matches: CM error",
    ),
]

CACHED_MSG = "    - Found cached script output:"
FOUND_MSG = "  - Found script::"


# --------------------------------------------------------------------------
# child: one CM run, in-process
# --------------------------------------------------------------------------
def child_main(spec_file, out_file):
    # Before CM configures logging, to see its debug messages; do not pass 'v'.
    records = golden_runs.grab_log_messages()

    with open(spec_file) as f:
        spec = json.load(f)

    import cmind

    ii = {"action": "run", "automation": "script", "tags": spec["tags"], "quiet": True}
    ii.update(spec["inputs"])
    r = cmind.access(ii)

    res = {
        "return": r.get("return"),
        "error": r.get("error"),
        "new_env": r.get("new_env"),
        "new_state": r.get("new_state"),
        "deps": r.get("deps"),
        "top_level_cache_hit": any(m.startswith(CACHED_MSG) for m in records),
        "cached_paths": [m[len(CACHED_MSG) :].strip() for m in records if m.startswith(CACHED_MSG)],
        # "  - Found script::<alias>,<uid> in <path>" (first one = top level)
        "found_script": next(
            (m[len(FOUND_MSG) :].split(" in ")[0] for m in records if m.startswith(FOUND_MSG)),
            None,
        ),
    }
    golden_runs.save_result(out_file, res)


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------
def subst(obj, tmp, url):
    return golden_runs.substitute(obj, {"<tmp>": tmp, URL: url})


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; logs requests to ``log_file`` instead of stderr."""

    log_file = os.devnull

    def log_message(self, format, *args):
        with open(self.log_file, "a") as f:
            f.write(f"{self.address_string()} - {format % args}\n")


def start_server(folder, log_file):
    """Write SERVED into folder and serve it on 127.0.0.1:<free port> in a thread."""
    os.makedirs(folder)
    for name, data in SERVED.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    handler = type("Handler", (QuietHandler,), {"log_file": log_file})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=folder)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def load_meta(d):
    import yaml  # available in CM's python (cmind depends on pyyaml)

    p = os.path.join(d, "_cm.yaml")
    if os.path.isfile(p):
        with open(p) as f:
            return yaml.safe_load(f) or {}
    p = os.path.join(d, "_cm.json")
    if os.path.isfile(p):
        with open(p) as f:
            return json.load(f)
    return {}


def main():
    if golden_runs.run_as_child(child_main):
        return

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="unpacked cmx4mlops dir (contains cmr.yaml)")
    ap.add_argument(
        "--cm",
        default=os.path.join(os.path.dirname(sys.executable), "cm"),
        help="`cm` executable (default: next to this python)",
    )
    golden_runs.add_run_options(ap, "cm_run_golden.json", timeout=900.0)
    args = ap.parse_args()

    try:
        import cmind  # noqa: F401
    except ImportError:
        sys.exit("run this with CM's python (the one that has `cmind` installed)")

    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(os.path.join(corpus, "cmr.yaml")):
        sys.exit(f"no cmr.yaml in corpus path {corpus}")
    label = args.corpus_label
    if label is None:
        vfile = os.path.join(corpus, "VERSION")
        version = open(vfile).read().strip() if os.path.isfile(vfile) else "?"
        label = "cmx4mlops==" + version

    base_python = golden_runs.base_python(args.base_python)

    cases = CASES
    if not shutil.which("wget"):
        print("no wget on PATH: leaving out the _wget cases", file=sys.stderr)
        cases = [c for c in cases if "_wget" not in c[1].split(",")]
    cases = golden_runs.select_cases(cases, args.only)

    with golden_runs.temp_dir("cm_run_golden_", args.keep) as tmp:
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        server, url = start_server(subst(SERVED_DIR, tmp, ""), os.path.join(logs, "http.log"))
        try:
            doc = run_cases(args, cases, corpus, label, base_python, tmp, url)
        finally:
            server.shutdown()
            server.server_close()
        golden_runs.write_json(args.out, doc)
        print(
            f"wrote {args.out} ({len(doc['cases'])} cases, cmind {doc['cmind_version']})",
            file=sys.stderr,
        )


def run_cases(args, cases, corpus, label, base_python, tmp, url):
    """Set up ``<tmp>`` (corpus copy, venv, CM home), run the cases; return the document."""
    corpus_copy = os.path.join(tmp, "cmx4mlops")
    shutil.copytree(corpus, corpus_copy, symlinks=True)
    cm_repos = os.path.join(tmp, "cmhome")
    logs = os.path.join(tmp, "logs")
    venv = os.path.join(tmp, "pyvenv")
    golden_runs.make_venv(base_python, venv)
    venv_bin = os.path.join(venv, "bin")
    env = golden_runs.scrubbed_env(
        ("CM_",), venv_bin, CM_REPOS=cm_repos, CM_CORE_SKIP_INTERNAL_REPOS="yes"
    )

    def run_setup(cmd):
        return golden_runs.setup_run(cmd, env, tmp).stdout

    run_setup([args.cm, "import", "repo", "--path=" + corpus_copy])
    version_lines = [x.strip() for x in run_setup([args.cm, "version"]).splitlines() if x.strip()]
    cmind_version = version_lines[-1]
    venv_python_version, pip_version = golden_runs.venv_versions(run_setup, venv_bin)

    scripts = golden_runs.script_index(os.path.join(corpus_copy, "repo", "script"), load_meta)
    cache = os.path.join(cm_repos, "repos", "local", "cache")

    def describe(meta):
        return golden_runs.describe_entry(meta, scripts, "script-artifact-")

    out_cases = []
    for cid, tags, inputs, notes in cases:
        work = os.path.join(tmp, "work", cid)
        os.makedirs(work)
        files = golden_runs.ChildFiles.of_case(logs, cid)
        before = golden_runs.cache_entries(cache, "_cm.json")
        child = golden_runs.run_child(
            golden_runs.child_command(__file__),
            {"tags": subst(tags, tmp, url), "inputs": subst(inputs, tmp, url)},
            files,
            env=env,
            cwd=work,
            timeout=args.timeout,
        )
        after = golden_runs.cache_entries(cache, "_cm.json")
        new_entries = golden_runs.new_cache_entries(before, after, describe)

        uids = golden_runs.matching_scripts(subst(tags, tmp, url), scripts)
        found = (child.result or {}).get("found_script")  # "alias,uid"
        found_uid = found.split(",")[-1] if found else None
        case = {
            "id": cid,
            "tags": tags,
            "inputs": inputs,
            **golden_runs.script_fields(found_uid, uids, scripts),
            **golden_runs.outcome(child, files.log, [tmp, url]),
        }
        golden_runs.finish_case(
            case,
            new_entries,
            round(child.seconds, 2),
            notes,
            made_entries=bool(new_entries),
            width=40,
        )
        out_cases.append(case)

    return {
        "cmind_version": cmind_version,
        "corpus": label,
        "produced_by": golden_runs.produced_by(),
        "cm_call": "cmind.access({'action':'run','automation':'script','tags':<tags>,"
        "'quiet':True, **inputs}) in a child process per case",
        "tmp_root": tmp,
        "http_server": {
            "placeholder": URL,
            "url": url,
            "folder": SERVED_DIR,
            "note": "http.server on 127.0.0.1 (free port) serving these files from "
            "<folder>; <url> in tags and inputs is its base URL; values containing it "
            "count as tmp-dependent",
            "files": {
                name: {
                    "size": len(data),
                    "md5": hashlib.md5(data).hexdigest(),
                    "base64": base64.b64encode(data).decode("ascii"),
                }
                for name, data in SERVED.items()
            },
        },
        "host_notes": {
            **golden_runs.host_platform(),
            "cm_python": sys.version.split()[0],
            "venv": golden_runs.venv_note(base_python, venv_python_version, pip_version),
            "network": golden_runs.NETWORK_NOTE,
            "environment": "CM_* removed; CM_REPOS=<tmp>/cmhome (fresh, shared by "
            "all cases in order); CM_CORE_SKIP_INTERNAL_REPOS=yes; stdin=/dev/null; "
            "cwd=<tmp>/work/<id>",
            "tools": golden_runs.tools_on_path(
                ("python3", "gcc", "g++", "cmake", "java", "javac", "docker", "sudo"), env["PATH"]
            ),
        },
        "notes": [
            golden_runs.TMP_NOTE + " (or the local server's URL)",
            golden_runs.VALUE_KINDS_NOTE,
            "cached = CM served the top-level script from its cache "
            "('Found cached script output' at recursion level 0)",
            "the CM cache persists across cases in the listed order",
            "new_env key order is as returned by CM (on a cache hit CM reloads "
            "the entry's JSON, so the order differs from the first run)",
        ],
        "cases": out_cases,
    }


if __name__ == "__main__":
    main()
