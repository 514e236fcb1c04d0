#!/usr/bin/env python3
"""Scan the CM and MLC script corpora for the compatibility surface their scripts use.

For every script of each corpus this reads ``customize.py`` (and the ``.py`` files of script
folders that it imports, such as ``mlperf_utils.py``) with :mod:`ast`, and the script's meta
(``_cm.yaml``/``_cm.json`` or ``meta.yaml``), and counts the number of SCRIPTS that use each
name of these kinds:

``automation``
    attributes of ``i['automation']`` and of anything bound to it or to one of its attributes
    (``automation = i['automation']``, ``logger = i['automation'].logger``, ``mlc =
    i['automation'].action_object``), up to three levels (``automation.action_object.access``);
    also ``self_module.X`` (a name some CM scripts use without defining it).
``module``
    attributes of the ``cmind``/``mlc`` modules other than ``utils`` (``cmind.access``, ...).
``access``
    ``access`` calls (``cmind.access``, ``mlc.access``, ``automation.action_object.access``,
    ``automation.cache_action.access``, ``automation.cmind.access``): ``action (automation)``
    of the dict given, when it is a literal or a local name assigned a literal (``?`` when not
    static).
``utils``
    ``cmind.utils.X``, ``mlc.utils.X`` and, for MLC, ``utils.X``: the corpus's own
    ``automation/utils.py``, which scripts import with ``from utils import ...`` (it starts
    with ``from mlc.utils import *``, so a name it does not define is ``mlc.utils.X`` reached
    through it). The ``mlc.utils`` names that the ``automation/utils.py`` functions a script
    uses need themselves (including modules such as ``os`` that it uses without importing
    them) are counted for that script too, marked "indirect".
``input``
    keys read from the hook input: ``i[...]``, ``i.get(...)`` and ``'k' in i`` in
    ``predeps``/``preprocess``/``postprocess``/``detect_version`` and in the functions of the
    same file they hand ``i`` to.
``meta``, ``dep``, ``variation``, ``version``, ``patch``
    top-level meta keys; keys of dependency entries (the four dependency lists at the top, in
    variations and in versions); keys of variation entries; keys of version entries; keys of
    ``add_deps``/``ad``/``add_deps_recursive``/``adr`` patches.

Usage (from the project root)::

    python tests/data/scan_compat.py \\
        --cm ~/.cache/cm-snakemake-tests/cmx4mlops-1.0.1/cmx4mlops \\
        --mlc /work/shared/corpora/mlperf-automations-20d3d94c.tar.gz \\
        --json /tmp/compat.json --markdown /tmp/compat.md

``--cm`` is the corpus root (the folder holding ``cmr.yaml``) or its ``repo`` folder; ``--mlc``
is the ``mlperf-automations`` folder or the ``.tar.gz`` holding it (unpacked into a temporary
folder). A name a script reaches through ``from utils import *`` that neither
``automation/utils.py`` nor mlcflow's ``mlc/utils.py`` defines is a NameError waiting in the
corpus, not a helper: it is listed under ``undefined_names`` in the JSON output, not in the
tables. The names of ``mlc/utils.py`` are those of mlcflow 1.3.8 unless ``--mlcflow`` names a
source tree of mlcflow (a folder holding ``mlc/utils.py``) to read them from.

``--docs docs/compatibility.md`` rewrites the tables between the markers
``<!-- scan_compat:begin -->`` and ``<!-- scan_compat:end -->`` of that file with fresh counts,
keeping the Status and Note cells already written there (a new name gets status ``?``). With
``--code-status`` the Status of the names whose presence cm_snakemake's compatibility layer
shows (attributes of ``i['automation']``, of ``cmind``/``mlc`` and of their ``utils``, hook-input
keys) is taken from the code instead (:func:`code_status`); the others are judged by reading
the code. ``tests/integration/test_compat_table.py`` checks that the document lists every name
the scan finds, with those statuses.

The scan itself uses only the standard library and PyYAML; ``--code-status`` imports
cm_snakemake.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import re
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HOOKS = ("predeps", "preprocess", "postprocess", "detect_version")
DEP_LISTS = ("deps", "prehook_deps", "posthook_deps", "post_deps")
PATCH_KEYS = ("add_deps", "ad", "add_deps_recursive", "adr")
KINDS = {
    "automation": "Attributes of `i['automation']`",
    "module": "Attributes of the `cmind` / `mlc` modules",
    "access": "`access` calls: action (automation)",
    "utils": "`utils` helpers",
    "input": "Keys read from the hook input `i`",
    "meta": "Top-level meta keys",
    "dep": "Keys of dependency entries",
    "variation": "Keys of variation entries",
    "version": "Keys of `versions` entries",
    "patch": "Keys of `add_deps` / `adr` patches",
}
EXAMPLES = 3
#: What ``from mlc.utils import *`` gives in mlcflow 1.3.8 (its ``mlc/utils.py`` has no
#: ``__all__``: every public name, the modules it imports included); ``--mlcflow`` reads them
#: from a source tree instead.
MLC_UTILS_1_3_8 = frozenset(
    """argparse assemble_object compare_versions convert_args_to_dictionary convert_env_to_dict
    convert_tags_to_list extract_file generate_temp_file get_new_uid get_repo_version importlib
    is_uid is_valid_url json load_cli_input_file load_json load_python_module load_txt logger
    logging merge_dicts modify_git_url os platform print_env print_formatted_json
    print_formatted_yaml printd re read_json read_yaml run_system_cmd save_json save_txt
    save_yaml shutil sub_input subprocess sys tarfile uuid version yaml zipfile""".split()
)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BEGIN = "<!-- scan_compat:begin -->"
END = "<!-- scan_compat:end -->"
_BUILTINS = set(dir(builtins))
_ACCESS_OWNERS = (
    "cmind",
    "mlc",
    "automation.action_object",
    "automation.cache_action",
    "automation.cmind",
    "self_module.cmind",
)

# -- results -----------------------------------------------------------------------------------


@dataclass
class Found:
    """Per kind and name: the scripts using it, and where the name comes from."""

    scripts: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    sources: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def add(self, kind: str, name: str, script: str, source: str = "") -> None:
        self.scripts.setdefault((kind, name), set()).add(script)
        if source:
            self.sources.setdefault((kind, name), set()).add(source)


# -- Python: resolving names to the paths they stand for ---------------------------------------


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _bound_names(node: ast.AST) -> set[str]:
    """Names bound anywhere inside ``node`` (assignments, parameters, imports, defs, ...)."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            for alias in sub.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
    return names


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds outside its functions and classes (and those themselves)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        else:
            names |= _bound_names(node)
    return names


def _import_aliases(node: ast.Import | ast.ImportFrom, mlc_utils: bool) -> dict[str, str]:
    """What the names bound by one import stand for (only the modules the scan tracks)."""
    found: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if alias.asname:
                if alias.name in ("cmind", "mlc", "cmind.utils", "mlc.utils"):
                    found[alias.asname] = alias.name
                elif alias.name == "utils" and mlc_utils:
                    found[alias.asname] = "utils"
            elif top in ("cmind", "mlc") or (top == "utils" and mlc_utils):
                found[top] = top
        return found
    module = node.module or ""
    if node.level:
        return found
    for alias in node.names:
        if alias.name == "*":
            continue
        bound = alias.asname or alias.name
        if module in ("cmind", "mlc"):
            found[bound] = f"{module}.{alias.name}"
        elif module in ("cmind.utils", "mlc.utils") or (module == "utils" and mlc_utils):
            found[bound] = f"{module}.{alias.name}"
    return found


class Scope:
    """The names of one function (or of the module) and the paths they stand for."""

    def __init__(self, parent: Scope | None, star_utils: bool, bound: set[str]) -> None:
        self.parent = parent
        self.names: dict[str, str] = {}
        self.star_utils = star_utils
        self.bound = bound

    def lookup(self, name: str) -> str | None:
        if name in self.names:
            return self.names[name]
        if self.parent is not None:  # a function: a local name hides the module's
            return None if name in self.bound else self.parent.lookup(name)
        if name in self.bound or name in _BUILTINS:
            return None
        if name == "self_module":  # used, never defined, by a CM script
            return "self_module"
        return f"utils.{name}" if self.star_utils else None

    def resolve(self, node: ast.AST) -> str | None:
        """The path ``node`` stands for: ``i``, ``i[key]``, ``automation.X``, ``cmind.utils``..."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base is not None and base != "i" else None
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            if key is not None and self.resolve(node.value) == "i":
                return "automation" if key == "automation" else f"i[{key}]"
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and node.args and self.resolve(node.func.value) == "i":
                key = _const_str(node.args[0])
                if key is not None:
                    return "automation" if key == "automation" else f"i[{key}]"
        return None


_TRACKED_ROOTS = ("i", "automation", "self_module", "cmind", "mlc", "utils")


def _tracked(path: str | None) -> bool:
    return path is not None and path.split(".")[0].split("[")[0] in _TRACKED_ROOTS


@dataclass
class PyRecord:
    """What one Python file uses: (kind, name, source) triples and the helper modules it imports."""

    uses: set[tuple[str, str, str]] = field(default_factory=set)
    imports: set[str] = field(default_factory=set)
    utils_functions: set[str] = field(default_factory=set)


class PyScan:
    """Scan one Python file of a script folder."""

    def __init__(self, path: Path, *, hooks: bool, mlc_utils: bool) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), str(path))
        self.hooks = hooks
        self.mlc_utils = mlc_utils
        self.record = PyRecord()
        star = any(
            isinstance(n, ast.ImportFrom)
            and n.module == "utils"
            and not n.level
            and any(a.name == "*" for a in n.names)
            for n in ast.walk(self.tree)
        )
        self.star_utils = star and mlc_utils
        self.module_scope = Scope(None, self.star_utils, _top_level_names(self.tree))
        self.functions = {
            n.name: n
            for n in self.tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self._walked: dict[int, tuple[list[ast.AST], set[str]]] = {}

    def _nodes(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> tuple[list[ast.AST], set[str]]:
        """Every node of the body of ``func`` and the names it binds (walked once)."""
        found = self._walked.get(id(func))
        if found is None:
            found = ([n for stmt in func.body for n in ast.walk(stmt)], _bound_names(func))
            self._walked[id(func)] = found
        return found

    # -- scopes ----------------------------------------------------------------------------------

    def _fill(self, scope: Scope, nodes: list[ast.AST]) -> None:
        """Bind names to tracked paths (imports and assignments in ``nodes``), to a fixpoint."""
        nodes = [n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom | ast.Assign)]
        for _ in range(4):
            before = dict(scope.names)
            for node in nodes:
                if isinstance(node, ast.Import | ast.ImportFrom):
                    scope.names.update(_import_aliases(node, self.mlc_utils))
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    path = scope.resolve(node.value)
                    if isinstance(target, ast.Name) and _tracked(path) and path != "i":
                        assert path is not None
                        scope.names[target.id] = path
            if scope.names == before:
                break

    def scan(self) -> PyRecord:
        body_outside = [
            n
            for n in self.tree.body
            if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        outside = [n for stmt in body_outside for n in ast.walk(stmt)]
        self._fill(self.module_scope, outside)
        self._walk(self.module_scope, outside, hook_input=False)
        seeds: dict[str, dict[str, str]] = {}
        if self.hooks:
            for name in HOOKS:
                func = self.functions.get(name)
                if func is not None and func.args.args:
                    seeds[name] = {func.args.args[0].arg: "i"}
        scanned: dict[str, dict[str, str]] = {}
        pending = list(self.functions)
        while pending:
            name = pending.pop(0)
            func = self.functions[name]
            params = seeds.get(name, {})
            if scanned.get(name) == params:
                continue
            scanned[name] = dict(params)
            for callee, callee_params in self._scan_function(func, params).items():
                merged = {**callee_params, **seeds.get(callee, {})}  # the first value stays
                if merged != seeds.get(callee, {}):
                    seeds[callee] = merged
                    pending.append(callee)
        # classes: methods get no seeds
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self._scan_function(item, {})
        return self.record

    def _scan_function(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef, params: dict[str, str]
    ) -> dict[str, dict[str, str]]:
        """Record what ``func`` uses; return the tracked values it hands to local functions."""
        nodes, bound = self._nodes(func)
        scope = Scope(self.module_scope, self.star_utils, bound)
        scope.names.update(params)
        self._fill(scope, nodes)
        scope.names.update(params)  # parameters win over a later rebinding of the same name
        hook_input = "i" in params.values()
        self._walk(scope, nodes, hook_input=hook_input)
        handed: dict[str, dict[str, str]] = {}
        for node in nodes:
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            callee = self.functions.get(node.func.id)
            if callee is None or scope.lookup(node.func.id) is not None:
                continue
            positional = [a.arg for a in callee.args.posonlyargs + callee.args.args]
            given: dict[str, str] = {}
            for index, arg in enumerate(node.args):
                path = scope.resolve(arg)
                if index < len(positional) and _tracked(path) and not (path or "").startswith("i["):
                    given[positional[index]] = str(path)
            for keyword in node.keywords:
                path = scope.resolve(keyword.value)
                if keyword.arg and _tracked(path) and not (path or "").startswith("i["):
                    given[keyword.arg] = str(path)
            if given:
                handed[callee.name] = given
        return handed

    # -- recording -------------------------------------------------------------------------------

    def _note_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.record.imports.add(alias.name.split(".")[0])
        elif not node.level and node.module:
            self.record.imports.add(node.module.split(".")[0])
        for bound, path in _import_aliases(node, self.mlc_utils).items():
            del bound
            self._use_path(path)
        if isinstance(node, ast.ImportFrom) and node.module == "utils" and self.mlc_utils:
            if any(a.name == "*" for a in node.names):
                self.record.uses.add(("utils", "from utils import *", ""))

    def _use(self, kind: str, name: str, source: str = "") -> None:
        self.record.uses.add((kind, name, source))

    def _use_path(self, path: str) -> None:
        parts = path.split(".")
        root = parts[0]
        if root in ("automation", "self_module") and len(parts) > 1:
            self._use("automation", ".".join(parts[:3]))
        elif root in ("cmind", "mlc") and len(parts) > 1:
            if parts[1] == "utils":
                if len(parts) > 2:
                    self._use("utils", ".".join(parts[:3]))
            else:
                self._use("module", ".".join(parts[:2]))
        elif root == "utils" and len(parts) > 1:
            self._use("utils", ".".join(parts[:2]))
            self.record.utils_functions.add(parts[1])

    def _walk(self, scope: Scope, nodes: list[ast.AST], *, hook_input: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._note_import(node)
            elif isinstance(node, ast.Attribute | ast.Name):
                path = scope.resolve(node)
                if path is not None and path not in ("i", "automation"):
                    if not (isinstance(node, ast.Name) and "." not in path):
                        self._use_path(path)
            elif isinstance(node, ast.Call):
                self._call(scope, node, nodes)
            if hook_input:
                self._input_key(scope, node)

    def _input_key(self, scope: Scope, node: ast.AST) -> None:
        if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            return
        path = scope.resolve(node) if isinstance(node, ast.Subscript | ast.Call) else None
        if path is not None and path.startswith("i["):
            self._use("input", path[2:-1])
        elif path == "automation":
            self._use("input", "automation")
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            key = _const_str(node.left)
            if (
                key is not None
                and isinstance(node.ops[0], ast.In | ast.NotIn)
                and scope.resolve(node.comparators[0]) == "i"
            ):
                self._use("input", key)

    def _call(self, scope: Scope, node: ast.Call, nodes: list[ast.AST]) -> None:
        path = scope.resolve(node.func)
        if path is None or not path.endswith(".access"):
            return
        owner = path[: -len(".access")]
        if owner not in _ACCESS_OWNERS or not node.args:
            return
        actions, automations = _static_dict_values(node.args[0], nodes)
        for action in actions or {"?"}:
            for automation in automations or {"?" if not actions else "none"}:
                self._use("access", f"{action} ({automation})", owner)


_ACCESS_SLOTS = {"action": "action", "automation": "automation", "target": "automation"}


def _static_dict_values(arg: ast.AST, nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    """The constant ``action`` and ``automation`` (MLC: ``target``) values of the dict given.

    The dict is a literal or a local name assigned one in ``nodes`` (and items set
    afterwards); a value that is a local name counts with every string constant that name is
    assigned.
    """
    assigns = [n for n in nodes if isinstance(n, ast.Assign)]
    constants: dict[str, set[str]] = {}
    for node in assigns:
        text = _const_str(node.value)
        for target in node.targets:
            if text is not None and isinstance(target, ast.Name):
                constants.setdefault(target.id, set()).add(text)
    items: list[tuple[ast.AST | None, ast.AST]] = []
    if isinstance(arg, ast.Dict):
        items += zip(arg.keys, arg.values, strict=True)
    elif isinstance(arg, ast.Name):
        for node in assigns:
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == arg.id:
                    if isinstance(node.value, ast.Dict):
                        items += zip(node.value.keys, node.value.values, strict=True)
                elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                    if target.value.id == arg.id:
                        items.append((target.slice, node.value))
    found: dict[str, set[str]] = {"action": set(), "automation": set()}
    for key, value in items:
        slot = _ACCESS_SLOTS.get(_const_str(key) or "")
        text = _const_str(value)
        if isinstance(value, ast.Name):
            strings = constants.get(value.id, set())
        else:
            strings = {text} if text is not None else set()
        if slot is not None:
            found[slot] |= {v.split(",")[0] for v in strings}
    return found["action"], found["automation"]


# -- MLC's automation/utils.py: what its functions need from mlc.utils -------------------------


def utils_needs(path: Path, mlc_utils_names: Set[str]) -> tuple[set[str], dict[str, set[str]]]:
    """The names ``automation/utils.py`` defines, and per function the star-imported names it uses.

    A name a function uses that neither it nor the module binds comes from ``from mlc.utils
    import *`` when it is one of ``mlc_utils_names``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module_bound = _top_level_names(tree)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for name, func in functions.items():
        local = _bound_names(func)
        used = {
            n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        direct[name] = {u for u in used if u not in local and u not in module_bound}
        direct[name] &= mlc_utils_names
        calls[name] = {u for u in used if u in functions and u != name}
    needs: dict[str, set[str]] = {}
    for name in functions:
        seen, todo, total = {name}, [name], set()
        while todo:
            current = todo.pop()
            total |= direct[current]
            for callee in calls[current] - seen:
                seen.add(callee)
                todo.append(callee)
        needs[name] = total
    return module_bound, needs


def mlc_utils_namespace(mlcflow: Path) -> set[str]:
    """The names ``from mlc.utils import *`` gives (``mlc/utils.py`` of an mlcflow source tree)."""
    candidates = [mlcflow / "mlc" / "utils.py", mlcflow / "utils.py"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise SystemExit(f"--mlcflow: no mlc/utils.py under {mlcflow}")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {n for n in _top_level_names(tree) if not n.startswith("_")}


# -- corpora -----------------------------------------------------------------------------------


@dataclass
class Corpus:
    label: str
    dialect: str  # "cm" or "mlc"
    root: Path  # the folder holding script/
    scripts: list[Path]


def find_corpus(label: str, given: Path, dialect: str) -> Corpus:
    candidates = [given, given / "repo", given / "mlperf-automations"]
    for root in candidates:
        if (root / "script").is_dir():
            meta_names = ("_cm.yaml", "_cm.json") if dialect == "cm" else ("meta.yaml",)
            scripts = sorted(
                p
                for p in (root / "script").iterdir()
                if p.is_dir() and any((p / m).is_file() for m in meta_names)
            )
            return Corpus(label, dialect, root, scripts)
    raise SystemExit(f"{label}: no script/ folder under {given}")


def _load_meta(folder: Path, dialect: str) -> dict[str, Any]:
    names = ("_cm.yaml", "_cm.json") if dialect == "cm" else ("meta.yaml", "meta.json")
    merged: dict[str, Any] = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        data = json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=_LOADER)
        if isinstance(data, dict):
            merged.update(data)
    return merged


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _patch_keys(owner: dict[str, Any], script: str, found: Found) -> None:
    for key in PATCH_KEYS:
        value = owner.get(key)
        for patch in value.values() if isinstance(value, dict) else ():
            for name in patch if isinstance(patch, dict) else ():
                found.add("patch", str(name), script)


def _dep_keys(owner: dict[str, Any], script: str, found: Found) -> None:
    for list_name in DEP_LISTS:
        for dep in _dicts(owner.get(list_name)):
            for name in dep:
                found.add("dep", str(name), script)
            _patch_keys(dep, script, found)
    _patch_keys(owner, script, found)


def scan_meta(meta: dict[str, Any], script: str, found: Found) -> None:
    """Record the keys of one script's meta: top level, variations, versions, deps, patches."""
    for name in meta:
        found.add("meta", str(name), script)
    _dep_keys(meta, script, found)
    for kind, key in (("variation", "variations"), ("version", "versions")):
        entries = meta.get(key)
        for entry in entries.values() if isinstance(entries, dict) else ():
            if isinstance(entry, dict):
                for name in entry:
                    found.add(kind, str(name), script)
                _dep_keys(entry, script, found)


def _helper_index(corpus: Corpus) -> dict[str, list[Path]]:
    """Module name -> the ``.py`` files of script folders with that name."""
    index: dict[str, list[Path]] = {}
    for folder in corpus.scripts:
        for path in sorted(folder.glob("*.py")):
            if path.name != "customize.py":
                index.setdefault(path.stem, []).append(path)
    return index


class CorpusScan:
    """Scan every script of one corpus into a :class:`Found`."""

    def __init__(self, corpus: Corpus, mlc_utils_names: Set[str]) -> None:
        self.corpus = corpus
        self.mlc = corpus.dialect == "mlc"
        self.mlc_utils_names = mlc_utils_names
        self.found = Found()
        self.helpers = _helper_index(corpus)
        self.utils_defined: set[str] = set()
        self.utils_needs: dict[str, set[str]] = {}
        utils_path = corpus.root / "automation" / "utils.py"
        if self.mlc and utils_path.is_file():
            self.utils_defined, self.utils_needs = utils_needs(utils_path, mlc_utils_names)
        self.cache: dict[Path, PyRecord] = {}
        self.helper_files: dict[str, set[str]] = {}
        self.undefined: dict[str, set[str]] = {}
        self.errors: list[str] = []

    def run(self) -> tuple[Found, dict[str, Any]]:
        for folder in self.corpus.scripts:
            scan_meta(_load_meta(folder, self.corpus.dialect), folder.name, self.found)
            if (folder / "customize.py").is_file():
                self._python(folder)
        scripts = self.corpus.scripts
        info = {
            "scripts": len(scripts),
            "with_customize": sum((f / "customize.py").is_file() for f in scripts),
            "helper_modules": {k: sorted(v) for k, v in sorted(self.helper_files.items())},
            "undefined_names": {k: sorted(v) for k, v in sorted(self.undefined.items())},
            "errors": self.errors,
        }
        return self.found, info

    def _record(self, path: Path, hooks: bool) -> PyRecord:
        if path not in self.cache:
            try:
                self.cache[path] = PyScan(path, hooks=hooks, mlc_utils=self.mlc).scan()
            except SyntaxError as exc:
                self.errors.append(f"{path.relative_to(self.corpus.root)}: {exc}")
                self.cache[path] = PyRecord()
        return self.cache[path]

    def _python(self, folder: Path) -> None:
        """``customize.py`` of ``folder`` and the script-folder modules it imports."""
        script = folder.name
        todo, seen = [(folder / "customize.py", True)], set()
        while todo:
            path, hooks = todo.pop(0)
            if path in seen:
                continue
            seen.add(path)
            record = self._record(path, hooks)
            for kind, name, source in record.uses:
                self._add(kind, name, script, source)
            for function in sorted(record.utils_functions & set(self.utils_needs)):
                for need in self.utils_needs[function]:
                    self.found.add(
                        "utils", f"mlc.utils.{need}", script, f"indirect: utils.{function}"
                    )
            for module in sorted(record.imports):
                if module in ("cmind", "mlc") or (self.mlc and module == "utils"):
                    continue
                same = folder / f"{module}.py"
                for target in [same] if same.is_file() else self.helpers.get(module, []):
                    where = str(target.relative_to(self.corpus.root))
                    self.helper_files.setdefault(where, set()).add(script)
                    todo.append((target, False))

    def _add(self, kind: str, name: str, script: str, source: str) -> None:
        if kind == "utils" and name.startswith("utils."):
            bare = name.split(".", 1)[1]
            if bare in self.utils_defined:
                source = "automation/utils.py"
            elif bare in self.mlc_utils_names:
                name, source = f"mlc.utils.{bare}", "via automation/utils.py"
            else:  # a NameError waiting in the corpus, not a helper
                self.undefined.setdefault(bare, set()).add(script)
                return
        self.found.add(kind, name, script, source)


# -- our status, where the compatibility layer itself can tell -----------------------------------


def code_status(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """``supported`` or ``missing`` for the names whose presence cm_snakemake's code shows.

    Attributes of ``i['automation']`` are looked up on a ``ScriptAutomation``; ``cmind.X`` /
    ``mlc.X`` and ``cmind.utils.X`` / ``mlc.utils.X`` on the stand-in modules (a name that
    ``automation/utils.py`` reaches through ``from mlc.utils import *`` must also be one that
    import gives); hook-input keys are the keys of the dict ``ScriptRun._hook_input`` returns.
    Other kinds (access actions, the corpus's own ``utils``, meta keys) are judged by reading
    the code and kept in the document. Imports cm_snakemake (from the project it belongs to).
    """
    import inspect

    from cm_snakemake.runtime import script_run
    from cm_snakemake.runtime.automation import ScriptAutomation
    from cm_snakemake.runtime.compat import cmind as compat

    given: dict[str, Any] = {
        "script": "scan-compat",
        "script_dir": tempfile.gettempdir(),
        "prefix": "CM_",
        "cwd": tempfile.gettempdir(),
        "hook_input": dict,
        "script_prefix": list,
    }
    params = inspect.signature(ScriptAutomation.__init__).parameters
    kwargs: dict[str, Any] = {n: given.get(n) for n in params if n != "self"}
    automation = ScriptAutomation(**kwargs)
    mlc_module = getattr(compat, "mlc_module", compat.module)
    roots: dict[str, Any] = {
        "automation": automation,
        "cmind": compat.module,
        "mlc": mlc_module,
    }
    source = inspect.getsource(script_run.ScriptRun._hook_input)
    tree = ast.parse(inspect.cleandoc("\n" + source) if source[:1].isspace() else source)
    hook_keys = {
        key
        for node in ast.walk(tree)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict)
        for key in (_const_str(k) for k in node.value.keys)
        if key is not None
    }

    def present(path: str) -> bool:
        parts = path.split(".")
        if parts[0] not in roots:
            return False
        value = roots[parts[0]]
        for part in parts[1:]:
            try:
                value = getattr(value, part)
            except Exception:  # the stand-ins raise their own "not supported" errors
                return False
        return True

    def star_names(module: Any) -> set[str]:
        names = getattr(module, "__all__", None)
        return set(names) if names is not None else {n for n in vars(module) if n[:1] != "_"}

    status: dict[tuple[str, str], str] = {}
    for row in rows:
        kind, name = row["kind"], row["name"]
        if kind in ("automation", "module") or (
            kind == "utils" and name.startswith(("cmind.utils.", "mlc.utils."))
        ):
            ok = present(name)
            if (
                ok
                and name.startswith("mlc.utils.")
                and any(s.startswith(("via ", "indirect")) for s in row["sources"])
            ):
                ok = name.split(".")[-1] in star_names(mlc_module.utils)
            status[(kind, name)] = "supported" if ok else "missing"
        elif kind == "input":
            status[(kind, name)] = "supported" if name in hook_keys else "missing"
    return status


# -- output ------------------------------------------------------------------------------------


def combine(results: dict[str, Found]) -> list[dict[str, Any]]:
    """One row per (kind, name): counts and examples per corpus, sources."""
    keys = sorted({k for f in results.values() for k in f.scripts}, key=_row_order)
    rows = []
    for kind, name in keys:
        row: dict[str, Any] = {"kind": kind, "name": name}
        sources: set[str] = set()
        for label, found in results.items():
            scripts = sorted(found.scripts.get((kind, name), set()))
            row[label] = len(scripts)
            row[f"{label}_examples"] = scripts[:EXAMPLES]
            sources |= found.sources.get((kind, name), set())
        row["sources"] = sorted(sources)
        rows.append(row)
    return rows


def _row_order(key: tuple[str, str]) -> tuple[int, str]:
    kind, name = key
    return (list(KINDS).index(kind), name.lower())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.*(),-]+( [A-Za-z0-9_.*(),-]+)*")


def name_cell(name: str) -> str:
    """A name as the tables show it: in backquotes, as a JSON string if it holds odd characters
    (the corpus has keys with a trailing quote or a leading no-break space)."""
    return f"`{name}`" if _PLAIN_NAME.fullmatch(name) else f"`{json.dumps(name)}`"


def cell_name(cell: str) -> str:
    """The name in a table cell written by :func:`name_cell`."""
    text = cell.strip()[1:-1]
    return str(json.loads(text)) if text.startswith('"') else text


def markdown(
    rows: list[dict[str, Any]],
    labels: list[str],
    status: dict[tuple[str, str], tuple[str, str]] | None = None,
) -> str:
    """Tables per kind: name, scripts per corpus, status, note (the last two from ``status``)."""
    status = status or {}
    out: list[str] = []
    for kind, title in KINDS.items():
        kind_rows = [r for r in rows if r["kind"] == kind]
        if not kind_rows:
            continue
        out += [f"### {title}", ""]
        head = ["Name", *(f"{label} scripts" for label in labels), "Status", "Note"]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in kind_rows:
            state, note = status.get((kind, row["name"]), ("?", ""))
            if not note and row["sources"]:
                note = "from " + ", ".join(row["sources"])
            cells = [name_cell(row["name"]), *(str(row[label]) for label in labels), state, note]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


_HEADING = re.compile(r"^### (.*)$")


def read_status(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The Status and Note cells of the generated tables already in a document (between the
    markers, if it has them)."""
    if BEGIN in text:
        text = text.split(BEGIN, 1)[1].split(END, 1)[0]
    titles = {title: kind for kind, title in KINDS.items()}
    status: dict[tuple[str, str], tuple[str, str]] = {}
    kind = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            kind = titles.get(heading.group(1).strip())
            continue
        if kind is None or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 4:
            continue
        name = cell_name(cells[0].replace("\\|", "|"))
        status[(kind, name)] = (cells[-2], cells[-1].replace("\\|", "|"))
    return status


def update_docs(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{table}\n{END}{tail}", encoding="utf-8")


def unpack(tarball: Path, into: Path) -> Path:
    with tarfile.open(tarball) as tf:
        tf.extractall(into, filter="data")
    return into


def run(
    cm: Path | None, mlc: Path | None, mlcflow: Path | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Scan the corpora given; return the rows, per-corpus information and the labels."""
    names = mlc_utils_namespace(mlcflow) if mlcflow is not None else MLC_UTILS_1_3_8
    results: dict[str, Found] = {}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="scan-compat-") as tmp:
        for label, path, dialect in (("CM", cm, "cm"), ("MLC", mlc, "mlc")):
            if path is None:
                continue
            folder = unpack(path, Path(tmp) / label) if path.is_file() else path
            corpus = find_corpus(label, folder, dialect)
            results[label], info[label] = CorpusScan(corpus, names).run()
    return combine(results), info, list(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cm", type=Path, help="the cmx4mlops corpus (folder with cmr.yaml)")
    parser.add_argument("--mlc", type=Path, help="mlperf-automations folder or its .tar.gz")
    parser.add_argument("--mlcflow", type=Path, help="mlcflow source folder (with mlc/utils.py)")
    parser.add_argument("--json", type=Path, help="write counts and examples here ('-': stdout)")
    parser.add_argument("--markdown", type=Path, help="write the tables here ('-': stdout)")
    parser.add_argument("--docs", type=Path, help="rewrite the tables in this document")
    parser.add_argument(
        "--code-status", action="store_true", help="take what the code shows as the status"
    )
    args = parser.parse_args(argv)
    if args.cm is None and args.mlc is None:
        parser.error("give --cm, --mlc or both")
    rows, info, labels = run(args.cm, args.mlc, args.mlcflow)
    if args.json is not None:
        text = json.dumps({"corpora": info, "rows": rows}, indent=1, sort_keys=True) + "\n"
        sys.stdout.write(text) if str(args.json) == "-" else args.json.write_text(text)
    status: dict[tuple[str, str], tuple[str, str]] = {}
    if args.docs is not None:
        status = read_status(args.docs.read_text(encoding="utf-8"))
    if args.code_status:
        for key, state in code_status(rows).items():
            status[key] = (state, status.get(key, ("", ""))[1])
    table = markdown(rows, labels, status)
    if args.markdown is not None:
        sys.stdout.write(table) if str(args.markdown) == "-" else args.markdown.write_text(table)
    if args.docs is not None:
        update_docs(args.docs, table)
    if args.json is None and args.markdown is None and args.docs is None:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
