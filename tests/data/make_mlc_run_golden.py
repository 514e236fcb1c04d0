#!/usr/bin/env python3
"""Produce golden data for ``mlc run script --tags=...`` from the real MLC engine (mlcflow).

This writes ``mlc_run_golden.json`` (next to this file by default): what the real MLC script
runtime (``mlcflow`` 1.3.8 from PyPI, whose wheel bundles the script engine
``automation/script/module.py``; the corpus's own ``automation/`` folder is NOT used by
mlcflow 1.3.8, which prefers its bundled engine) returns for ``mlc run script --tags=<tags>
--quiet <inputs as command-line flags>`` over the mlperf-automations corpus snapshot, i.e. the
exported ``new_env`` / ``new_state`` (plus the returned ``deps`` list), for each request in
``CASES`` below.  The scripts really run (shell + customize.py) on this machine, so values
are machine-specific; see ``value_kinds``.  It is the MLC counterpart of
``make_cm_run_golden.py`` (real CM, cmx4mlops corpus) and writes the same fields.

How to reproduce ``tests/data/mlc_run_golden.json``
---------------------------------------------------

1. Install the reference engine in a private venv (the golden file was made with mlcflow
   1.3.8; the tests look for it at ``~/.cache/cm-snakemake-tests/mlcflow-1.3.8``)::

       python3 -m venv ~/.cache/cm-snakemake-tests/mlcflow-1.3.8
       ~/.cache/cm-snakemake-tests/mlcflow-1.3.8/bin/pip install mlcflow==1.3.8

2. From the repository root run, WITH MLCFLOW'S PYTHON (the children import ``mlc``)::

       ~/.cache/cm-snakemake-tests/mlcflow-1.3.8/bin/python tests/data/make_mlc_run_golden.py

   ``--corpus`` takes the snapshot tarball (default:
   ``/work/shared/corpora/mlperf-automations-20d3d94c.tar.gz``, or ``$CMSM_MLC_CORPUS``) or an
   already unpacked ``mlperf-automations`` folder (it is copied, never touched).
   Needs: network access to PyPI only (numpy, pyyaml, tabulate are pip-installed into a
   throw-away venv); gcc/g++, cmake, java/javac, openssl, wget, unzip, xz, bzip2, docker (the
   client binary only) on PATH; Linux.  Takes 5 to 8 minutes on 2 cores: mlcflow re-reads
   (pure-Python YAML) every meta.yaml of the corpus twice per call, most of the ~5 s that
   even a cache hit takes.
   ``--only ID[,ID...]`` runs a subset (note: later cases rely on the cache state left by
   earlier ones), ``--keep`` keeps the temp dir (with one log per case in ``<tmp>/logs``).
   ``--out FILE`` writes elsewhere. What it shares with the other generators here is in
   ``golden_runs.py``, imported from this folder (stdlib only).

What the script does
--------------------

* Creates a temp dir ``<tmp>`` (recorded as ``tmp_root``) and unpacks (or copies) the corpus
  into ``<tmp>/mlperf-automations`` (scripts write into their own folders when they run).
* Creates a fresh venv ``<tmp>/pyvenv`` with ``--base-python`` (default: the first
  ``python3`` on PATH) and puts ``<tmp>/pyvenv/bin`` FIRST on PATH for every MLC run.
  ``get-python3`` searches PATH for ``python3``, so it detects the venv's python, and every
  ``get-generic-python-lib`` pip install goes into that venv.  mlcflow's own venv is NOT on
  PATH (its python is only used to run the children).
* Every MLC run happens in its own child process
  (``<this python> make_mlc_run_golden.py --child ...``) with a scrubbed environment: all
  ``MLC_*``/``CM_*``/``CMSM_*`` variables removed, ``MLC_REPOS=<tmp>/mlchome/repos`` (private
  MLC home, shared by all cases, so the MLC cache persists from case to case in ``CASES``
  order), stdin = /dev/null (a script that prompts fails instead of hanging), cwd = a fresh
  ``<tmp>/work/<case id>`` (non-cached scripts write their tmp files, and mlcflow its
  ``.mlc-log.txt``, in cwd).
* Registers the corpus copy with ``mlc add repo <tmp>/mlperf-automations`` first (local folder,
  no network).
* The child does what the ``mlc`` command does: ``sys.argv = ['mlc', 'run', 'script',
  '--tags=<tags>', '--quiet', *flags]`` (``flags``: the case's inputs as mlcflow's
  command-line syntax: ``{"env": {"K": "v"}}`` -> ``--env.K=v``, ``True`` -> ``--key``, else
  ``--key=value``) and ``mlc.main.main()``.  The result dict that mlcflow hands to its console
  printer (``mlc.main.process_console_output``) is kept; ``-j`` would only print it into the
  log.  On a failure mlcflow raises ``ScriptExecutionError`` (the command line exits 1); the
  engine's own result dict (``return``, ``error``) is taken from the outermost
  ``ScriptAutomation.run`` call (wrapped when mlcflow imports the engine module).
  ``logger.debug`` of mlcflow's logger is wrapped (its level stays INFO, so no
  ``MLC_TMP_VERBOSE`` is set) to see the engine's "Found cached script output" and
  "Found script::" messages.

Requests left out (and why)
---------------------------

* ``get,git``: no such script in this corpus (``get-git-repo`` clones: network).
* ``print,hello-world``, ``print,python-version``, ``test,deps,conditions``: not in this
  corpus; ``run,python`` (a python one-liner), ``generic,template`` and ``fail,filter`` (a
  condition on the host OS) stand in for them.
* ``get,compiler`` and ``get,compiler-flags`` as plain requests: mlcflow 1.3.8 sorts the
  scripts tagged ``compiler`` by their ``sort`` (get-llvm: 100, get-gcc: 500) and then prunes
  them to those with a cache entry, but compares the uid taken from the entry's
  ``associated_script_item`` (``"get-gcc, <uid>"``, with its leading space) with the script's
  uid, which never matches, so get-llvm is chosen even with a get-gcc entry, and LLVM is
  downloaded from GitHub.  ``get,compiler,gcc`` and ``get,compiler-flags
  --adr.compiler.tags=gcc`` are requested instead.
* ``get,rust-compiler``: upgrades pip in the venv (with ``--user``, which fails in a venv)
  and downloads rustup.
* ``get,python3`` with an unsatisfiable version (``--version_max`` below the host's): MLC then
  builds python from source (``install,python,src``: downloads from python.org).
* ``get,sys-utils-mlc``, ``get,generic-sys-util`` variations of tools that are not installed,
  ``get,platform-details``: they install Debian packages into the host (apt); only variations
  whose tool is already on PATH are requested (detection only).
* ``get,mlperf,inference,utils``/``src``, ``get,mlperf,inference,sut,description``: clone the
  inference repository from GitHub.

Output fields per case
----------------------

* ``id``, ``tags``, ``inputs``: the request (``<tmp>`` in inputs is replaced by the real temp
  dir at run time); ``argv``: the mlc command line it became.
* ``returncode``: the engine's ``return`` value (0 = ok; the ``mlc`` command exits 1 for any
  failure); ``error``: the engine's ``error`` text (or the exception/child traceback tail if
  it crashed), null when ok.
* ``new_env`` / ``new_state`` / ``deps``: exactly as returned (values are not normalised).
  ``new_env`` is the env subset returned to the caller (filtered by the script's
  ``new_env_keys``).
* ``value_kinds``: for each ``new_env`` key: ``"path"`` (absolute path that existed on disk
  right after the run; for a list: every element), else ``"version"`` (looks like ``1.2`` /
  ``3.11.7`` / ``2.4.6rc1``; for a list: every element), else ``"text"``.
* ``tmp_dependent_keys``: ``new_env`` keys whose value contains ``tmp_root`` (e.g. paths into a
  cache entry ``<tmp>/mlchome/repos/local/cache/<alias>_<uid8>``, whose uid is random);
  ``tmp_dependent_state_keys`` likewise for ``new_state``.
* ``cached``: the top-level script was served from the MLC cache (the engine logged "Found
  cached script output" while running the request itself, depth 1 of its ``run`` calls).
  ``cacheable``: the script meta has ``cache: true`` (null if no script ran).
  ``new_cache_entries``: scripts (alias + variation tags, ``tmp``: the entry is still marked
  tmp, i.e. unfinished) for which this run created a cache entry.
* ``script``: alias of the script MLC actually ran at the top level (from its "Found script::"
  debug message; null if none); ``candidates``: aliases of all corpus scripts whose tags
  contain the request's non-variation tags; ``seconds``: wall time of the child process.
"""

import argparse
import json
import os
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import golden_runs  # this folder's shared code (cm_snakemake is not installed here)

DEFAULT_CORPUS = "/work/shared/corpora/mlperf-automations-20d3d94c.tar.gz"
TOP = "mlperf-automations"

# (id, tags, inputs, notes).  ORDER MATTERS: the MLC cache is shared.
CASES = [
    ("detect-os", "detect,os", {}, "cacheable in MLC (cache_expiration 1h); no deps"),
    ("detect-os-second", "detect,os", {}, "same request again: cache hit"),
    ("detect-cpu", "detect,cpu", {}, "cacheable; dep detect,os (cache hit)"),
    ("detect-sudo", "detect,sudo", {}, "not cacheable; runs as root here: MLC_SUDO=''"),
    (
        "get-python3-first",
        "get,python3",
        {},
        "cache miss: detects <tmp>/pyvenv/bin/python3 via PATH",
    ),
    ("get-python3-second", "get,python3", {}, "same request again: cache hit"),
    (
        "get-python3-version-min",
        "get,python3",
        {"version_min": "3.8"},
        "--version_min satisfied by the cached entry",
    ),
    (
        "get-python3-version-range",
        "get,python3",
        {"version_min": "3.8", "version_max": "3.99"},
        "--version_min/--version_max range around the host python",
    ),
    (
        "error-generic-python-lib-no-package",
        "get,generic-python-lib",
        {},
        "no package variation and no get-generic-python-lib entry in the cache yet: "
        "customize.py returns the list of variations as its error (its _pip dep is cached)",
    ),
    (
        "get-generic-python-lib-numpy",
        "get,generic-python-lib,_numpy",
        {},
        "cache miss: pip installs numpy into the venv (its _pip dep: a cache hit)",
    ),
    (
        "get-generic-python-lib-numpy-second",
        "get,generic-python-lib,_numpy",
        {},
        "same request again: cache hit",
    ),
    (
        "get-generic-python-lib-pip",
        "get,generic-python-lib,_pip",
        {},
        "the _pip entry made as a dependency by an earlier case: cache hit",
    ),
    (
        "get-generic-python-lib-package-pyyaml",
        "get,generic-python-lib,_package.pyyaml",
        {},
        "dynamic variation package.#; pip installs pyyaml",
    ),
    (
        "get-generic-python-lib-package-tabulate-version-max",
        "get,generic-python-lib,_package.tabulate",
        {"version_max": "0.8.10"},
        "--version_max: pip installs tabulate<=0.8.10 (PyPI)",
    ),
    (
        "get-generic-python-lib-package-tabulate",
        "get,generic-python-lib,_package.tabulate",
        {},
        "the same package without a version constraint: MLC searches its cache by tags and "
        "reuses the entry made under --version_max (a cache hit)",
    ),
    ("get-gcc", "get,gcc", {}, "cache miss; finds system gcc"),
    (
        "get-compiler-gcc",
        "get,compiler,gcc",
        {},
        "only get-gcc has both tags: served from the cache entry of the previous case "
        "(plain get,compiler picks get-llvm here and downloads it: left out)",
    ),
    (
        "get-compiler-flags-adr-gcc",
        "get,compiler-flags",
        {"adr": {"compiler": {"tags": "gcc"}}},
        "not cacheable; --adr.compiler.tags=gcc narrows the dep get,compiler (names: "
        "compiler) to get,compiler,gcc: a cache hit",
    ),
    ("get-cmake", "get,cmake", {}, "cache miss; finds system cmake (no install)"),
    ("get-java", "get,java", {}, "cache miss; finds system java (no install)"),
    ("get-javac", "get,javac", {}, "cache miss; finds system javac (no install)"),
    ("get-openssl", "get,openssl", {}, "cache miss; finds system openssl (no install)"),
    ("get-docker", "get,docker", {}, "cache miss; only `docker --version` (client binary)"),
    ("get-sys-utils-min", "get,sys-utils-min", {}, "nothing to do on Linux"),
    (
        "get-generic-sys-util-wget",
        "get,generic-sys-util,_wget",
        {},
        "mode detect (default variation): wget --version; no install",
    ),
    (
        "get-generic-sys-util-wget-second",
        "get,generic-sys-util,_wget",
        {},
        "same request again: cache hit",
    ),
    ("get-generic-sys-util-unzip", "get,generic-sys-util,_unzip", {}, "detect only"),
    ("get-generic-sys-util-xz", "get,generic-sys-util,_xz", {}, "detect only"),
    (
        "get-generic-sys-util-bzip2",
        "get,generic-sys-util,_bzip2",
        {},
        "detect only; MLC_SYS_UTIL_VERSION_CMD_OVERRIDE",
    ),
    ("get-generic-sys-util-cmake", "get,generic-sys-util,_cmake", {}, "detect only"),
    ("get-cache-dir", "get,cache,dir,_name.golden", {}, "value is the cache entry dir"),
    ("get-cache-dir-second", "get,cache,dir,_name.golden", {}, "same request again: cache hit"),
    (
        "get-cache-dir-env-name",
        "get,cache,dir,_name.golden-env",
        {"env": {"MLC_CACHE_DIR_ENV_NAME": "MLC_GOLDEN_CACHE_DIR"}},
        "new_env_keys has '<<<MLC_CACHE_DIR_ENV_NAME>>>' -> exports MLC_GOLDEN_CACHE_DIR",
    ),
    (
        "create-custom-cache-entry",
        "create,custom,cache,entry",
        {"extra_cache_tags": "golden", "env_key": "GOLDEN", "path": "<tmp>/custom-entry"},
        "input_mapping env_key/path; without extra_cache_tags it prompts (input())",
    ),
    (
        "get-mlperf-results-dir",
        "get,mlperf,inference,results,dir",
        {},
        "default variation version.r6_1-dev; dir = cache entry dir",
    ),
    (
        "get-mlperf-results-dir-input",
        "get,mlperf,inference,results,dir,_version.4_1",
        {"results_dir": "<tmp>/results"},
        "input_mapping results_dir -> MLC_MLPERF_INFERENCE_RESULTS_DIR (dir need not exist)",
    ),
    (
        "get-mlperf-submission-dir",
        "get,mlperf,inference,submission,dir",
        {},
        "default variations version.r6_1-dev and wg-inference",
    ),
    (
        "run-python",
        "run,python",
        {"command": "-c print('hello-world')"},
        "hello-world stand-in: input_mapping command -> MLC_RUN_PYTHON_CMD; exports nothing",
    ),
    ("template-script", "generic,template", {}, "empty customize.py and run.sh"),
    ("fail-filter", "fail,filter", {}, "fails only on Windows with _windows: ok here"),
    (
        "fail-filter-windows",
        "fail,filter,_windows",
        {},
        "MLC_FAIL_WINDOWS set, but the host is Linux: ok",
    ),
    (
        "dump-pip-freeze",
        "dump,pip,freeze",
        {},
        "new_state pip_freeze = the packages of <tmp>/pyvenv at this point",
    ),
    (
        "error-detect-host-system-details",
        "detect,host,system,details",
        {},
        "fails in customize.py: needs MLC_PLATFORM_DETAILS_FILE_PATH (get,platform-details)",
    ),
    (
        "install-python-venv",
        "install,python-venv",
        {"name": "golden"},
        "pip installs virtualenv into <tmp>/pyvenv, creates a venv in the cache entry",
    ),
    (
        "get-python3-after-venv",
        "get,python3",
        {},
        "two get-python3 entries now (the host's and the venv's, made by install-python-venv's "
        "post_dep): MLC takes the first by sorted tags",
    ),
    (
        "get-cuda",
        "get,cuda",
        {},
        "default variation _toolkit; this host has an nvcc stand-in in /usr/local/bin "
        "(CUDA 13.0): detected, no install",
    ),
    (
        "error-unknown-variation",
        "detect,os,_golden-no-such-variation",
        {},
        "the script has no such variation: MLC error",
    ),
    (
        "get-generic-python-lib-no-variation",
        "get,generic-python-lib",
        {},
        "no package variation, but the cache has get-generic-python-lib entries now: MLC "
        "serves the first one by sorted tags (the _numpy entry) as a cache hit",
    ),
    ("error-unknown-tags", "get,golden-no-such-script", {}, "no script matches: MLC error"),
]

# The engine indents its messages by self.recursion_spaces, which a nested run leaves changed,
# so the level of a message is taken from the depth of the engine's run() calls instead.
CACHED_MSG = "- Found cached script output:"
FOUND_MSG = "- Found script::"


# --------------------------------------------------------------------------
# child: one mlc run, in-process, as the `mlc` command does it
# --------------------------------------------------------------------------
def child_main(spec_file, out_file):
    with open(spec_file) as f:
        spec = json.load(f)

    import mlc.main as mlc_main
    from mlc.logger import logger
    from mlc.script_action import ScriptAction, ScriptExecutionError

    engine = {"depth": 0, "top": None}
    messages = []  # (depth of the engine's run() calls, text); depth 1 = the request
    real_debug = logger.debug

    def debug(msg, *args, **kwargs):
        try:
            messages.append((engine["depth"], str(msg) % args if args else str(msg)))
        except Exception:
            pass
        return real_debug(msg, *args, **kwargs)

    logger.debug = debug  # the level stays INFO: nothing more is printed

    real_import = ScriptAction.dynamic_import_module

    def dynamic_import_module(self, script_path):
        module = real_import(self, script_path)
        cls = getattr(module, "ScriptAutomation", None)
        if cls is not None and not getattr(cls.run, "_golden", False):
            real_run = cls.run

            def run(self_, i):
                engine["depth"] += 1
                try:
                    r = real_run(self_, i)
                finally:
                    engine["depth"] -= 1
                if engine["depth"] == 0:
                    engine["top"] = r  # the outermost call returns last
                return r

            run._golden = True
            cls.run = run
        return module

    ScriptAction.dynamic_import_module = dynamic_import_module

    printed = {}
    real_print = mlc_main.process_console_output

    def process_console_output(res, target, action, run_args):
        printed["res"] = res
        return real_print(res, target, action, run_args)

    mlc_main.process_console_output = process_console_output

    sys.argv = list(spec["argv"])
    exit_code = 0
    crash = None
    try:
        mlc_main.main()
    except SystemExit as e:
        exit_code = e.code if isinstance(e.code, int) else 1
    except ScriptExecutionError as e:
        exit_code = 1
        crash = str(e)
    except Exception as e:  # what `mlc` reports via _report_error, exit 1
        import traceback

        exit_code = 1
        crash = f"{type(e).__name__}: {e}\n" + "".join(traceback.format_exc()[-3000:])

    r = printed.get("res") or engine["top"] or {}
    rc = r.get("return")
    if rc is None:
        rc = 1 if (exit_code or crash) else 0
    error = r.get("error") if rc else None
    if rc and error is None:
        error = crash or f"mlc exited with {exit_code}"
    res = {
        "return": rc,
        "error": error,
        "exit_code": exit_code,
        "exception": crash,
        "new_env": r.get("new_env"),
        "new_state": r.get("new_state"),
        "deps": r.get("deps"),
        "top_level_cache_hit": any(d == 1 and CACHED_MSG in m for d, m in messages),
        "cached_paths": [m.split(CACHED_MSG, 1)[1].strip() for _, m in messages if CACHED_MSG in m],
        # "  - Found script::<alias>, <uid> in <path>" at depth 1 (the request)
        "found_script": next(
            (
                m.split(FOUND_MSG, 1)[1].split(" in ")[0]
                for d, m in messages
                if d == 1 and FOUND_MSG in m
            ),
            None,
        ),
    }
    golden_runs.save_result(out_file, res)


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------
def input_flags(inputs, prefix=""):
    """The inputs as mlcflow's command-line flags (``mlc.utils.convert_args_to_dictionary``)."""
    flags = []
    for key, value in inputs.items():
        name = prefix + key
        if isinstance(value, dict):
            flags += input_flags(value, name + ".")
        elif value is True:
            flags.append("--" + name)
        elif isinstance(value, (list, bool)) or value is None:
            raise ValueError(f"input {name}: no command-line form for {value!r}")
        else:
            flags.append(f"--{name}={value}")
    return flags


def mlc_argv(tags, inputs):
    return ["mlc", "run", "script", "--tags=" + tags, "--quiet", *input_flags(inputs)]


def load_meta(d):
    import yaml  # mlcflow depends on pyyaml

    p = os.path.join(d, "meta.yaml")
    if not os.path.isfile(p):
        return {}
    with open(p) as f:
        return yaml.safe_load(f) or {}


def unpack_corpus(corpus, tmp):
    """Put a fresh copy of the corpus at ``<tmp>/mlperf-automations``; return its path."""
    target = os.path.join(tmp, TOP)
    if os.path.isdir(corpus):
        shutil.copytree(corpus, target, symlinks=True)
    else:
        with tarfile.open(corpus) as tar:
            tar.extractall(tmp, filter="data")
    if not os.path.isfile(os.path.join(target, "meta.yaml")):
        sys.exit(f"{corpus}: no {TOP}/meta.yaml in it")
    return target


def main():
    if golden_runs.run_as_child(child_main):
        return

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--corpus",
        default=os.environ.get("CMSM_MLC_CORPUS", DEFAULT_CORPUS),
        help="the mlperf-automations snapshot (.tar.gz) or an unpacked copy",
    )
    golden_runs.add_run_options(ap, "mlc_run_golden.json", timeout=300.0)
    args = ap.parse_args()

    # Do not import mlc here: importing it creates ~/MLC (or $MLC_REPOS) and a .mlc-log.txt
    # in the current directory.
    import importlib.util
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        mlcflow_version = dist_version("mlcflow")
    except PackageNotFoundError:
        mlcflow_version = None
    if mlcflow_version is None or importlib.util.find_spec("mlc") is None:
        sys.exit("run this with mlcflow's python (the one that has `mlc` installed)")

    corpus = os.path.abspath(args.corpus)
    if not os.path.exists(corpus):
        sys.exit(f"no corpus at {corpus} (pass --corpus or set CMSM_MLC_CORPUS)")
    label = args.corpus_label or os.path.basename(corpus).removesuffix(".tar.gz")

    base_python = golden_runs.base_python(args.base_python)
    cases = golden_runs.select_cases(CASES, args.only)

    with golden_runs.temp_dir("mlc_run_golden_", args.keep) as tmp:
        doc = {
            "mlcflow_version": mlcflow_version,
            "corpus": label,
            **run_cases(args, cases, corpus, base_python, tmp),
        }
        golden_runs.write_json(args.out, doc)
        print(
            f"wrote {args.out} ({len(doc['cases'])} cases, mlcflow {mlcflow_version})",
            file=sys.stderr,
        )


def run_cases(args, cases, corpus, base_python, tmp):
    """Set up ``<tmp>`` (corpus copy, venv, MLC home), run the cases; return the document's
    fields from ``produced_by`` on."""
    corpus_copy = unpack_corpus(corpus, tmp)
    mlc_repos = os.path.join(tmp, "mlchome", "repos")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    venv = os.path.join(tmp, "pyvenv")
    golden_runs.make_venv(base_python, venv)
    venv_bin = os.path.join(venv, "bin")
    env = golden_runs.scrubbed_env(("MLC_", "CM_", "CMSM_"), venv_bin, MLC_REPOS=mlc_repos)

    def run_setup(cmd, cwd=tmp):
        p = golden_runs.setup_run(cmd, env, cwd)
        return p.stdout + p.stderr

    setup_dir = os.path.join(tmp, "work", "_setup")
    os.makedirs(setup_dir)
    run_setup([sys.executable, "-m", "mlc", "add", "repo", corpus_copy], cwd=setup_dir)
    venv_python_version, pip_version = golden_runs.venv_versions(run_setup, venv_bin)

    scripts = golden_runs.script_index(os.path.join(corpus_copy, "script"), load_meta)
    cache = os.path.join(mlc_repos, "local", "cache")

    def describe(meta):
        entry = golden_runs.describe_entry(meta, scripts, "script-item-")
        return {**entry, "tmp": "tmp" in meta.get("tags", [])}

    out_cases = []
    for cid, tags, inputs, notes in cases:
        work = os.path.join(tmp, "work", cid)
        os.makedirs(work)
        files = golden_runs.ChildFiles.of_case(logs, cid)
        before = golden_runs.cache_entries(cache, "meta.json")
        child = golden_runs.run_child(
            golden_runs.child_command(__file__),
            {"argv": mlc_argv(tags, golden_runs.substitute(inputs, {"<tmp>": tmp}))},
            files,
            env=env,
            cwd=work,
            timeout=args.timeout,
        )
        after = golden_runs.cache_entries(cache, "meta.json")
        new_entries = golden_runs.new_cache_entries(before, after, describe)

        uids = golden_runs.matching_scripts(tags, scripts)
        found = (child.result or {}).get("found_script")  # "alias, uid"
        found_uid = found.split(",")[-1].strip() if found else None
        exit_code = child.returncode if child.result is None else child.result["exit_code"]
        case = {
            "id": cid,
            "tags": tags,
            "inputs": inputs,
            "argv": mlc_argv(tags, inputs),
            **golden_runs.script_fields(found_uid, uids, scripts),
            **golden_runs.outcome(child, files.log, [tmp], exit_code=exit_code),
        }
        if child.result is None:
            case["returncode"] = child.returncode or 1  # the mlc command exits 1 on a failure
        golden_runs.finish_case(
            case,
            new_entries,
            round(child.seconds, 2),
            notes,
            made_entries=any(not e["tmp"] for e in new_entries),
            width=52,
        )
        out_cases.append(case)

    return {
        "produced_by": golden_runs.produced_by(),
        "mlc_call": "sys.argv = argv; mlc.main.main() in a child process per case; the "
        "result dict handed to mlc.main.process_console_output is kept (on failure: the "
        "outermost ScriptAutomation.run result; mlc raises ScriptExecutionError)",
        "tmp_root": tmp,
        "host_notes": {
            **golden_runs.host_platform(),
            "mlc_python": sys.version.split()[0],
            "venv": golden_runs.venv_note(base_python, venv_python_version, pip_version),
            "network": golden_runs.NETWORK_NOTE,
            "environment": "MLC_*/CM_*/CMSM_* removed; MLC_REPOS=<tmp>/mlchome/repos "
            "(fresh, shared by all cases in order); stdin=/dev/null; cwd=<tmp>/work/<id>",
            "tools": golden_runs.tools_on_path(
                (
                    "python3",
                    "gcc",
                    "g++",
                    "cmake",
                    "java",
                    "javac",
                    "openssl",
                    "docker",
                    "rustc",
                    "wget",
                    "sudo",
                    "nvcc",
                ),
                env["PATH"],
            ),
        },
        "notes": [
            golden_runs.TMP_NOTE,
            golden_runs.VALUE_KINDS_NOTE,
            "cached = MLC served the top-level script from its cache "
            "('Found cached script output' logged within the request's own run() call, "
            "not a dependency's)",
            "the MLC cache persists across cases in the listed order",
            "returncode = the engine's return value; the mlc command exits 1 on any "
            "failure (exit_code)",
        ],
        "cases": out_cases,
    }


if __name__ == "__main__":
    main()
