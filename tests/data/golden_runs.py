"""What the golden-data generators of this folder share: plain standard library.

The generators run under different Pythons (``make_cm_run_golden.py`` under cmind's venv,
``make_mlc_run_golden.py`` under mlcflow's, ``make_cm_mlperf_ref_golden.py`` and
``make_cm_find_golden.py`` under any ``python3``), none of which has cm_snakemake installed,
so each imports this module from its own folder (``sys.path[0]`` when it runs as a script).

* the temp dir of a run and the JSON document it writes: ``temp_dir``, ``write_json``,
  ``produced_by``, ``host_platform``, ``tools_on_path``, ``substitute`` (placeholders);
* the setup of a run: ``add_run_options``, ``scrubbed_env`` (the engine's variables removed,
  a venv first on ``PATH``), ``make_venv``, ``setup_run``, ``venv_versions``, ``venv_note``,
  ``base_python``, ``select_cases``;
* one engine call in a child process: ``run_as_child``, ``child_command``, ``ChildFiles``,
  ``run_child``, ``save_result``, ``grab_log_messages`` (CM's debug messages);
* what a case records: ``outcome`` (returncode, error, new_env, new_state, deps, cached,
  ``value_kinds``, ``tmp_dependent_keys``), ``script_fields``, ``finish_case``, the corpus
  scripts (``script_index``, ``matching_scripts``) and the cache entries a run made
  (``cache_entries``, ``describe_entry``, ``new_cache_entries``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))  # where the generators and golden files are
VERSION_RE = re.compile(r"v?\d+(\.\d+)+([.\-+_]?[0-9A-Za-z]+)*")
PYTHON_VARS = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")  # never handed on to the engine

TMP_NOTE = (
    "values are NOT normalised; tmp_root is the temp dir of this run "
    "(deleted afterwards): values listed in tmp_dependent_keys contain it"
)
VALUE_KINDS_NOTE = (
    "value_kinds: path = absolute path existing on disk after the run "
    "(list: all elements), version = version-like string, text = other"
)
NETWORK_NOTE = "only PyPI reachable (pip uses the host's pip config)"
CACHE_HIT_WARNING = " [warning: cache hit but new cache entries were created]"

Scripts = dict[str, dict[str, Any]]  # uid -> {"alias", "tags", "cache"}


# --------------------------------------------------------------------------
# the run and its document
# --------------------------------------------------------------------------
@contextlib.contextmanager
def temp_dir(prefix: str, keep: bool) -> Iterator[str]:
    """A fresh temp dir (its real path); removed afterwards unless ``keep``."""
    tmp = os.path.realpath(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
        if keep:
            print(f"kept temp dir {tmp}", file=sys.stderr)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def produced_by() -> str:
    """The command line of this run, with this python's name."""
    return os.path.basename(sys.executable) + " " + " ".join(shlex.quote(a) for a in sys.argv)


def host_platform() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "user_is_root": hasattr(os, "geteuid") and os.geteuid() == 0,
    }


def tools_on_path(names: Iterable[str], path: str | None = None) -> dict[str, str | None]:
    return {t: shutil.which(t, path=path) for t in names}


def substitute(obj: Any, replacements: dict[str, str]) -> Any:
    """``obj`` with every ``old`` in its strings (not its keys) replaced by ``new``, in order."""
    if isinstance(obj, str):
        for old, new in replacements.items():
            obj = obj.replace(old, new)
        return obj
    if isinstance(obj, dict):
        return {k: substitute(v, replacements) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, replacements) for v in obj]
    return obj


# --------------------------------------------------------------------------
# setup
# --------------------------------------------------------------------------
def add_run_options(ap: argparse.ArgumentParser, out_name: str, timeout: float) -> None:
    """The options of a generator that runs its ``CASES`` in order (after its own)."""
    ap.add_argument(
        "--base-python",
        default=None,
        help="python used to create the throw-away venv (default: python3 on PATH)",
    )
    ap.add_argument("--corpus-label", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, out_name))
    ap.add_argument("--timeout", type=float, default=timeout, help="per-case timeout (s)")
    ap.add_argument("--only", default=None, help="comma-separated case ids")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")


def scrubbed_env(
    drop_prefixes: tuple[str, ...], path_prefix: str | os.PathLike[str], **settings: Any
) -> dict[str, str]:
    """This process's environment without the variables starting with ``drop_prefixes`` and
    without ``PYTHON_VARS``, plus ``settings``, no bytecode files, ``path_prefix`` first on
    ``PATH``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop_prefixes) and k not in PYTHON_VARS
    }
    env.update({k: str(v) for k, v in settings.items()})
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    return env


def base_python(given: str | None) -> str:
    """The python that makes the throw-away venv: ``given``, else the python3 on PATH."""
    found = given or shutil.which("python3")
    if not found:
        sys.exit("no python3 on PATH; pass --base-python")
    return found


def make_venv(python: str, venv: str | os.PathLike[str]) -> None:
    subprocess.run([python, "-m", "venv", os.fspath(venv)], check=True)


def setup_run(
    cmd: Sequence[str], env: dict[str, str], cwd: str | os.PathLike[str]
) -> subprocess.CompletedProcess[str]:
    """Run a setup command; exit with its output if it fails."""
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        sys.exit(f"setup failed ({p.returncode}): {cmd}\n{p.stdout}\n{p.stderr}")
    return p


def venv_versions(run_setup: Callable[[list[str]], str], venv_bin: str) -> tuple[str, str]:
    """``(python --version, pip version)`` of the venv, asked through ``run_setup``."""
    python = os.path.join(venv_bin, "python3")
    python_version = run_setup([python, "--version"]).strip()
    pip_version = run_setup([python, "-m", "pip", "--version"]).split()[1]
    return python_version, pip_version


def venv_note(python: str, python_version: str, pip_version: str) -> str:
    return (
        f"<tmp>/pyvenv created with {python} ({python_version}, pip {pip_version}); "
        "<tmp>/pyvenv/bin is first on PATH, so get,python3 finds it"
    )


def select_cases(cases: list[Any], only: str | None) -> list[Any]:
    """The cases whose id (first item) ``--only`` names (all without it)."""
    if not only:
        return cases
    ids = set(only.split(","))
    chosen = [c for c in cases if c[0] in ids]
    if len(chosen) != len(ids):
        sys.exit("unknown case id in --only")
    return chosen


# --------------------------------------------------------------------------
# one engine call in a child process
# --------------------------------------------------------------------------
def run_as_child(child_main: Callable[[str, str], None]) -> bool:
    """``<script> --child SPEC RESULT``: run ``child_main(SPEC, RESULT)`` and say so."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3])
        return True
    return False


def child_command(script: str) -> list[str]:
    """This python running ``script --child`` (``run_child`` adds the spec and result files)."""
    return [sys.executable, os.path.abspath(script), "--child"]


class ChildFiles(NamedTuple):
    spec: str | os.PathLike[str]
    result: str | os.PathLike[str]
    log: str | os.PathLike[str]

    @classmethod
    def of_case(cls, folder: str, cid: str) -> ChildFiles:
        """``<folder>/<cid>.spec.json``, ``.result.json`` and ``.log``."""
        base = os.path.join(folder, cid)
        return cls(base + ".spec.json", base + ".result.json", base + ".log")


class ChildRun(NamedTuple):
    result: dict[str, Any] | None  # what the child saved; None if it saved nothing
    returncode: int | None  # None on a timeout
    timed_out: bool
    seconds: float  # wall time, not rounded


def run_child(
    command: list[str],
    spec: Any,
    files: ChildFiles,
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str],
    timeout: float,
) -> ChildRun:
    """Write ``spec``, run ``command + [spec, result]`` (stdin /dev/null, output to the log),
    read the result the child saved."""
    with open(files.spec, "w") as f:
        json.dump(spec, f)
    t0 = time.time()
    returncode, timed_out = None, False
    with open(files.log, "w") as lf, open(os.devnull) as devnull:
        try:
            p = subprocess.run(  # noqa: PLW1510 - the return code is recorded
                [*command, os.fspath(files.spec), os.fspath(files.result)],
                env=env,
                cwd=cwd,
                stdin=devnull,
                stdout=lf,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            returncode = p.returncode
        except subprocess.TimeoutExpired:
            timed_out = True
    seconds = time.time() - t0
    result = None
    if os.path.isfile(files.result):
        with open(files.result) as f:
            result = json.load(f)
    return ChildRun(result, returncode, timed_out, seconds)


def save_result(out_file: str, res: dict[str, Any]) -> None:
    """The child's side: save what the engine returned (anything JSON lacks as its repr)."""
    with open(out_file, "w") as f:
        json.dump(res, f, indent=1, default=repr)


def grab_log_messages() -> list[str]:
    """Configure the root logger (DEBUG) BEFORE CM does (its basicConfig(INFO) then is a
    no-op), so that CM's debug messages are visible without passing ``v``; return the list
    that collects every message from now on."""
    import logging

    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                records.append(record.getMessage())
            except Exception:  # a log line is not worth a crash
                pass

    logging.basicConfig(level=logging.DEBUG)
    logging.getLogger().addHandler(Grab())
    return records


# --------------------------------------------------------------------------
# what a case records
# --------------------------------------------------------------------------
def kind_of_scalar(v: Any) -> str:
    if isinstance(v, str):
        if os.path.isabs(v) and os.path.exists(v):
            return "path"
        if VERSION_RE.fullmatch(v.strip()) and v.strip() == v:
            return "version"
    return "text"


def kind_of(v: Any) -> str:
    """``path`` / ``version`` / ``text``; a list: the kind all its elements share, else text."""
    if isinstance(v, list):
        if not v:
            return "text"
        kinds = {kind_of_scalar(x) for x in v}
        return kinds.pop() if len(kinds) == 1 else "text"
    return kind_of_scalar(v)


def contains(v: Any, s: str) -> bool:
    if isinstance(v, str):
        return s in v
    if isinstance(v, list):
        return any(contains(x, s) for x in v)
    if isinstance(v, dict):
        return any(contains(x, s) for x in v.values())
    return False


def keys_containing(values: dict[str, Any], markers: Sequence[str]) -> list[str]:
    """The sorted keys whose value contains any of ``markers`` (tmp root, server URL)."""
    return sorted(k for k, v in values.items() if any(contains(v, m) for m in markers))


def outcome(
    child: ChildRun, log_file: str | os.PathLike[str], markers: Sequence[str], **after_error: Any
) -> dict[str, Any]:
    """A case's fields from what the child saved (or, if nothing, from its crash):
    ``returncode``, ``error``, then ``after_error``, then ``new_env``, ``new_state``,
    ``deps``, ``cached``, ``value_kinds`` and the tmp-dependent keys (values containing one
    of ``markers``)."""
    res = child.result
    if res is not None:
        new_env = res["new_env"] if res["new_env"] is not None else {}
        new_state = res["new_state"] if res["new_state"] is not None else {}
        head = {"returncode": res["return"], "error": res["error"] if res["return"] else None}
        rest = {
            "new_env": new_env,
            "new_state": new_state,
            "deps": res["deps"],
            "cached": bool(res["top_level_cache_hit"]),
            "value_kinds": {k: kind_of(v) for k, v in new_env.items()},
            "tmp_dependent_keys": keys_containing(new_env, markers),
            "tmp_dependent_state_keys": keys_containing(new_state, markers),
        }
    else:
        with open(log_file) as f:
            tail = "\n".join(f.read().splitlines()[-15:])
        why = "timeout\n" if child.timed_out else "child crashed\n"
        head = {"returncode": child.returncode, "error": why + tail}
        rest = {
            "new_env": None,
            "new_state": None,
            "deps": None,
            "cached": False,
            "value_kinds": {},
            "tmp_dependent_keys": [],
            "tmp_dependent_state_keys": [],
        }
    return {**head, **after_error, **rest}


def script_fields(found_uid: str | None, candidates: list[str], scripts: Scripts) -> dict[str, Any]:
    """``script`` (the alias that ran), ``candidates`` (aliases) and ``cacheable``."""
    return {
        "script": scripts[found_uid]["alias"] if found_uid in scripts else None,
        "candidates": [scripts[u]["alias"] for u in candidates],
        "cacheable": scripts[found_uid]["cache"] if found_uid in scripts else None,
    }


def finish_case(
    case: dict[str, Any],
    new_entries: list[dict[str, Any]],
    seconds: float,
    notes: str,
    *,
    made_entries: bool,
    width: int,
) -> None:
    """Add ``new_cache_entries``, ``seconds`` and ``notes`` (with a warning for a cache hit
    that ``made_entries``), and print the case's line."""
    case["new_cache_entries"] = new_entries
    case["seconds"] = seconds
    case["notes"] = notes
    if case["cached"] and made_entries:
        case["notes"] += CACHE_HIT_WARNING
    print(
        f"{case['id']:<{width}} rc={case['returncode']} cached={case['cached']!s:<5} "
        f"keys={len(case['new_env'] or {})} new_entries={len(new_entries)} {seconds}s",
        file=sys.stderr,
    )


def script_index(root: str, load_meta: Callable[[str], dict[str, Any]]) -> Scripts:
    """uid -> alias, tags and ``cache`` of every script folder under ``root`` with a uid."""
    out = {}
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if os.path.isdir(d):
            m = load_meta(d)
            if m.get("uid"):
                out[m["uid"]] = {
                    "alias": m.get("alias", name),
                    "tags": m.get("tags", []),
                    "cache": bool(m.get("cache", False)),
                }
    return out


def matching_scripts(tags: str, scripts: Scripts) -> list[str]:
    """The uids of the scripts that have every non-variation tag, by alias."""
    want = [t.strip() for t in tags.split(",") if t.strip() and not t.strip().startswith("_")]
    if not want:
        return []
    return sorted(
        (uid for uid, s in scripts.items() if all(t in s["tags"] for t in want)),
        key=lambda u: scripts[u]["alias"],
    )


def cache_entries(folder: str, meta_name: str) -> dict[str, dict[str, Any]]:
    """Entry name -> its meta (``{}`` if unreadable), for the entries in the cache ``folder``."""
    if not os.path.isdir(folder):
        return {}
    out = {}
    for name in os.listdir(folder):
        p = os.path.join(folder, name, meta_name)
        if os.path.isfile(p):
            try:
                with open(p) as f:
                    out[name] = json.load(f)
            except Exception:
                out[name] = {}
    return out


def describe_entry(meta: dict[str, Any], scripts: Scripts, script_tag: str) -> dict[str, Any]:
    """The script (alias, from the ``<script_tag><uid>`` tag) and variations of an entry."""
    tags = meta.get("tags", [])
    alias = None
    for t in tags:
        if t.startswith(script_tag):
            s = scripts.get(t[len(script_tag) :])
            alias = s["alias"] if s else t
    variations = sorted(t for t in tags if t.startswith("_"))
    return {"script": alias, "variations": variations}


def new_cache_entries(
    before: dict[str, Any],
    after: dict[str, Any],
    describe: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """``describe`` of every entry in ``after`` and not ``before``, by script and variations."""
    return sorted(
        (describe(after[u]) for u in after if u not in before),
        key=lambda d: (str(d["script"]), d["variations"]),
    )
