"""What a script's files may read and write: the facts partial evaluation needs from disk.

The planner is pure; this module does the file access for it. For one script folder it
returns a :class:`ScriptScan`:

* ``refs``: the env keys the script's files mention (``CM_X``/``MLC_X`` names in the meta,
  ``customize.py``, shell and Python files). A script that iterates over the whole env
  (``env.items()``, ``for k in env``) or copies ``os.environ`` reads everything:
  ``reads_all``. The planner puts only the keys a node may read into its content key.
* ``hook_writes``: env keys ``customize.py`` may assign (``env['X'] = ...``,
  ``env.setdefault('X', ...)``); ``hook_writes_all`` when it writes keys whose names are
  computed, or merges whole dicts into the env.
* ``native_writes``: keys the native scripts may write to ``tmp-run-env.out``
  (``echo "X=..." >> tmp-run-env.out``); ``native_writes_all`` when a file writes that file
  with keys that are not spelled out.
* ``has_preprocess``/``has_postprocess``/``has_predeps`` and ``native_scripts``.
* ``digest``: a hash of the script's code (``customize.py``, Python modules, native scripts)
  and of the other files its repository ships (``shipped.py``), without the meta files (whose
  meaning has its own digest) and ``tmp-*`` leftovers, so editing ``run.sh`` or
  ``customize.py`` changes the content keys of the script's nodes while reformatting the meta,
  or a run writing into the script's folder, does not.

A file that is a link is read only when following it is allowed in its repository
(:func:`cm_snakemake.index.links.followable_link`); linked folders are not entered.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

from .links import followable_link

__all__ = ["ScriptScan", "scan_script"]

_NAME = re.compile(r"\b(?:CM|MLC)_[A-Z0-9_]+\b")
_PLUS = re.compile(r"['\"](\+[A-Za-z_][A-Za-z0-9_]*)['\"]")
_READS_ALL = re.compile(
    r"\benv\.(?:items|keys|values)\(|\bfor\s+\w+\s+in\s+env\b|dict\(\s*os\.environ"
)
_ENV_OUT_LINE = re.compile(r"((?:CM|MLC)_[A-Z0-9_]+|\+[A-Z_][A-Z0-9_]*)=")
_DYNAMIC_KEY = re.compile(r"[\"'\s]\$\{?\w+\}?=|\{[^}]*\}=")
_HELPERS = re.compile(r"\bautomation\b|\['automation'\]")
_QUOTED_NAME = re.compile(r"['\"]((?:CM|MLC)_[A-Z0-9_]+|\+[A-Z_][A-Z0-9_]*)['\"]")
_HELPER_KEYS = frozenset(
    {
        "CM_DETECTED_VERSION",
        "MLC_DETECTED_VERSION",
        "+PATH",
        "+LD_LIBRARY_PATH",
        "+C_INCLUDE_PATH",
        "+CPLUS_INCLUDE_PATH",
    }
)
_META_NAMES = frozenset({"_cm.yaml", "_cm.json", "meta.yaml"})
_MAX_FILE = 512 * 1024
_TEXT_SUFFIXES = (".py", ".sh", ".bat", ".yaml", ".yml", ".json", ".txt", ".cfg", ".conf")


@dataclass(frozen=True, slots=True)
class ScriptScan:
    """What the files of one script may read and write (see the module docstring)."""

    refs: frozenset[str] = frozenset()
    reads_all: bool = False
    hook_writes: frozenset[str] = frozenset()
    hook_writes_all: bool = False
    stage_writes: tuple[tuple[str, frozenset[str], bool], ...] = ()
    native_writes: frozenset[str] = frozenset()
    native_writes_all: bool = False
    has_preprocess: bool = False
    has_postprocess: bool = False
    has_predeps: bool = False
    native_scripts: tuple[str, ...] = ()
    digest: str = ""

    def writes(self, stage: str) -> tuple[frozenset[str], bool]:
        """The keys hook ``stage`` may write, and whether it may write any key."""
        for name, keys, writes_all in self.stage_writes:
            if name == stage:
                return keys, writes_all
        return frozenset(), False


def _files(folder: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for name in sorted(names):
            if name.startswith("tmp-") or name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(root, name)
            if os.path.islink(path) and not followable_link(path):
                continue
            found.append(path)
    return found


_CODE_SUFFIXES = (".py", ".sh", ".bat", ".ps1")


def scan_script(folder: str, shipped: frozenset[str] | None = None) -> ScriptScan:
    """Scan the files of the script in ``folder``; ``shipped``: the paths (relative to it)
    of the files besides its code that its digest covers (None: every file)."""
    digest = hashlib.sha256()
    refs: set[str] = set()
    reads_all = False
    hook_writes: set[str] = set()
    hook_writes_all = False
    native_writes: set[str] = set()
    native_writes_all = False
    hooks = {"preprocess": False, "postprocess": False, "predeps": False}
    stages: dict[str, tuple[set[str], bool]] = {}
    for path in _files(folder):
        rel = os.path.relpath(path, folder)
        try:
            with open(path, "rb") as fh:
                data = fh.read(_MAX_FILE + 1)
        except OSError:
            continue
        if rel in _META_NAMES:  # the meta's meaning is in its own digest, not its text
            pass
        elif shipped is None or rel in shipped or rel.endswith(_CODE_SUFFIXES):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        if len(data) > _MAX_FILE or (not rel.endswith(_TEXT_SUFFIXES) and "." in rel):
            continue
        text = data.decode("utf-8", errors="replace")
        refs.update(_NAME.findall(text))
        refs.update(_PLUS.findall(text))
        if rel.endswith(".py"):
            reads_all = reads_all or bool(_READS_ALL.search(text))
        if rel == "customize.py":
            hooks_found = analyse_customize(text)
            stages.update(hooks_found)
            for name in hooks:
                hooks[name] = name in hooks_found
            for written, writes_all in hooks_found.values():
                hook_writes.update(written)
                hook_writes_all = hook_writes_all or writes_all
        if "tmp-run-env.out" in text and rel != "customize.py":
            # Literal KEY= names anywhere in the file; a file that writes tmp-run-env.out
            # without any, or with a computed name on such a line, may write any key.
            keys = _ENV_OUT_LINE.findall(text)
            native_writes.update(keys)
            dynamic = any(
                _DYNAMIC_KEY.search(line) for line in text.splitlines() if "tmp-run-env" in line
            )
            native_writes_all = native_writes_all or not keys or dynamic
    natives = tuple(
        sorted(
            n
            for n in os.listdir(folder)
            if n.endswith((".sh", ".bat")) and not n.startswith("tmp-")
        )
    )
    return ScriptScan(
        refs=frozenset(refs),
        reads_all=reads_all,
        hook_writes=frozenset(hook_writes),
        hook_writes_all=hook_writes_all,
        native_writes=frozenset(native_writes),
        native_writes_all=native_writes_all,
        has_preprocess=hooks["preprocess"],
        has_postprocess=hooks["postprocess"],
        has_predeps=hooks["predeps"],
        stage_writes=tuple(sorted((k, frozenset(w), a) for k, (w, a) in stages.items())),
        native_scripts=natives,
        digest=digest.hexdigest(),
    )


def analyse_customize(text: str) -> dict[str, tuple[set[str], bool]]:
    """For each hook (``preprocess``, ``postprocess``, ``predeps``) in ``customize.py``, the
    env keys it (or a module function it calls) may write, and whether it may write any key.

    Writes are ``env['X'] = ...``, ``env['X'] += ...``, ``env.setdefault('X', ...)``; a
    subscript with a computed key, ``env.update(...)`` or a nested script run (``access``
    with the env) may write anything. Calls of CM helpers (``find_artifact``,
    ``parse_version``, ...) write the keys named in quotes in the function, the standard path
    lists and the detected version. Source that does not parse writes anything.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {h: (set(), True) for h in ("preprocess", "postprocess", "predeps")}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    lines = text.splitlines()
    facts = {name: _direct_writes(fn, lines, functions) for name, fn in functions.items()}
    result: dict[str, tuple[set[str], bool]] = {}
    for hook in ("preprocess", "postprocess", "predeps"):
        if hook not in functions:
            continue
        seen: set[str] = {hook}
        todo: list[str] = [hook]
        written: set[str] = set()
        writes_all = False
        while todo:
            w, a, calls = facts[todo.pop()]
            written |= w
            writes_all = writes_all or a
            for name in calls - seen:
                seen.add(name)
                todo.append(name)
        result[hook] = (written, writes_all)
    return result


def _direct_writes(
    fn: ast.FunctionDef, lines: list[str], functions: dict[str, ast.FunctionDef]
) -> tuple[set[str], bool, set[str]]:
    """Keys one function writes itself, whether it may write any, and the functions it calls."""
    written: set[str] = set()
    writes_all = False
    calls: set[str] = set()
    source = "\n".join(lines[fn.lineno - 1 : fn.end_lineno])
    for node in ast.walk(fn):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_env(target.value):
                key = target.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    written.add(key.value)
                else:
                    writes_all = True
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in functions:
                calls.add(func.id)
            if isinstance(func, ast.Attribute):
                if _is_env(func.value) and func.attr == "setdefault" and node.args:
                    arg = node.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        written.add(arg.value)
                    else:
                        writes_all = True
                elif _is_env(func.value) and func.attr == "update":
                    writes_all = True
                elif func.attr == "access" and ("'env'" in source or '"env"' in source):
                    writes_all = True
    if _HELPERS.search(source):
        written.update(_QUOTED_NAME.findall(source))
        written.update(_HELPER_KEYS)
    return written, writes_all, calls


def _is_env(node: ast.expr) -> bool:
    """``env`` or ``i['env']``."""
    if isinstance(node, ast.Name):
        return node.id == "env"
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == "env"
    )


def folder_signature(folder: str) -> tuple[tuple[str, int, int], ...]:
    """``(relative path, size, mtime_ns)`` of every file :func:`scan_script` reads."""
    sig = []
    for path in _files(folder):
        try:
            st = os.stat(path)
        except OSError:
            continue
        sig.append((os.path.relpath(path, folder), st.st_size, st.st_mtime_ns))
    return tuple(sig)


def scan_to_plain(scan: ScriptScan) -> tuple[object, ...]:
    """The scan as plain data (for the index snapshot)."""
    return (
        tuple(sorted(scan.refs)),
        scan.reads_all,
        tuple(sorted(scan.hook_writes)),
        scan.hook_writes_all,
        tuple((n, tuple(sorted(k)), a) for n, k, a in scan.stage_writes),
        tuple(sorted(scan.native_writes)),
        scan.native_writes_all,
        scan.has_preprocess,
        scan.has_postprocess,
        scan.has_predeps,
        scan.native_scripts,
        scan.digest,
    )


def scan_from_plain(data: Any) -> ScriptScan:
    """The inverse of :func:`scan_to_plain`."""
    (
        refs,
        reads_all,
        hook_writes,
        hook_all,
        stages,
        native,
        native_all,
        pre,
        post,
        predeps,
        scripts,
        digest,
    ) = data
    return ScriptScan(
        refs=frozenset(refs),
        reads_all=bool(reads_all),
        hook_writes=frozenset(hook_writes),
        hook_writes_all=bool(hook_all),
        stage_writes=tuple((n, frozenset(k), a) for n, k, a in stages),
        native_writes=frozenset(native),
        native_writes_all=bool(native_all),
        has_preprocess=bool(pre),
        has_postprocess=bool(post),
        has_predeps=bool(predeps),
        native_scripts=tuple(scripts),
        digest=str(digest),
    )
