"""``i['automation']``: the helpers real ``customize.py`` files call on CM's script automation.

Implemented: ``find_artifact``, ``find_file_in_paths``, ``find_file_deep``, ``find_file_back``,
``get_default_path_list``, ``parse_version``, ``run_native_script``,
``detect_version_using_script``, ``update_deps``, ``clean_some_tmp_files``,
``_available_variations``, plus ``cmind`` (the compatibility module, for ``access``). Each takes
and returns dicts with CM's contract (docs/cm-behaviour.md §8.3 to §8.5); ``return: 16`` means "not
found", as scripts expect. Any other attribute raises a clear "not supported" error.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._util.settings import settings
from ..errors import Unsupported
from ..meta.tags import split_tags
from ..plan.versions import compare_versions
from .compat import cmind as compat_cmind
from .native import run_native

__all__ = ["ScriptAutomation"]

_SUFFIXES = ("", ".[0-9]", ".[0-9][0-9]", "-[0-9]", "-[0-9][0-9]", "[0-9]", "[0-9][0-9]",
             "[0-9].[0-9]", "[0-9][0-9].[0-9]", "[0-9][0-9].[0-9][0-9]")  # fmt: skip
_TMP_FILES = ("tmp-run-state.json", "tmp-run-env.out", "tmp-ver.out", "tmp-env.sh",
              "tmp-env-all.sh", "tmp-state.json", "tmp-run.sh")  # fmt: skip


class ScriptAutomation:
    """The object a hook receives as ``i['automation']`` while one script runs."""

    def __init__(
        self,
        *,
        script: str,
        script_dir: str,
        prefix: str,
        cwd: str,
        customize: Any,
        hook_input: Callable[[], dict[str, Any]],
        script_prefix: Callable[[], list[str]],
    ) -> None:
        self.script = script
        self.script_dir = script_dir
        self.prefix = prefix
        self.cwd = cwd
        self.customize = customize
        self._hook_input = hook_input
        self._script_prefix = script_prefix
        self.cmind = compat_cmind.module
        self.logger = logging.getLogger("cm_snakemake.script")
        # what MLC hooks reach through i['automation']: the script action and the cache action
        self.action_object = self
        self.cache_action = self
        self.repos_path = str(settings.home)
        self.access: Callable[[dict[str, Any]], dict[str, Any]] = compat_cmind.access

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise Unsupported(
            f"not supported: automation.{name}",
            hint="cm-snakemake provides the helpers the corpora use; see docs/compatibility.md.",
        )

    # -- native scripts ----------------------------------------------------------------------

    def run_native_script(self, i: dict[str, Any]) -> dict[str, Any]:
        """Run ``<script_name>.sh`` of the script folder on ``env``; merge tmp-run-env.out."""
        env: dict[str, Any] = i["env"]
        name = str(i.get("script_name") or "run")
        rsi = i.get("run_script_input") or {}
        folder = str(rsi.get("path") or self.script_dir)
        path = os.path.join(folder, f"{name}.sh")
        if not os.path.isfile(path):
            return {"return": 16, "error": f"native script {path} not found"}
        for tmp in ("tmp-run-env.out", "tmp-ver.out", "tmp-run-state.json"):
            if os.path.exists(os.path.join(self.cwd, tmp)):
                os.remove(os.path.join(self.cwd, tmp))
        env[f"{self.prefix}TMP_CURRENT_SCRIPT_PATH"] = folder  # as CM sets it for every run
        env[f"{self.prefix}TMP_CURRENT_SCRIPT_WORK_PATH"] = self.cwd
        done = run_native(self.cwd_path, env, Path(path), script_prefix=self._script_prefix())
        if done.code != 0:
            return {"return": 2, "error": f"native script {name}.sh failed (exit code {done.code})"}
        env.update(done.values)
        if i.get("detect_version"):
            return self._detect_version(env)
        return {"return": 0}

    @property
    def cwd_path(self) -> Path:
        return Path(self.cwd)

    def _detect_version(self, env: dict[str, Any]) -> dict[str, Any]:
        detect = getattr(self.customize, "detect_version", None)
        if detect is None:
            return {"return": 0}
        hook_input = {**self._hook_input(), "env": env}
        from .hooks import compat_modules

        with compat_modules():
            result: dict[str, Any] = detect(hook_input)
        return result

    def detect_version_using_script(self, i: dict[str, Any]) -> dict[str, Any]:
        """Run ``run.sh`` then ``detect_version``; 16 if no version satisfying the constraints."""
        env = i["env"]
        result = self.run_native_script({**i, "script_name": "run", "detect_version": True})
        if result.get("return", 0) > 0:
            return {"return": 16, "error": result.get("error", "version not detected")}
        version = env.get(f"{self.prefix}DETECTED_VERSION", "") or result.get("version", "")
        if not version:
            return {"return": 16, "error": "version was not detected"}
        if not _satisfies(str(version), env, self.prefix):
            return {"return": 16, "error": f"detected version {version} is outside the range"}
        return {"return": 0, "detected_version": version}

    # -- finding files -----------------------------------------------------------------------

    def get_default_path_list(self, i: dict[str, Any]) -> list[str]:
        key = str(i.get("default_path_env_key") or "PATH")
        return [p for p in os.environ.get(key, "").split(os.pathsep) if p]

    def find_file_in_paths(self, i: dict[str, Any]) -> dict[str, Any]:
        name = str(i["file_name"])
        found: list[str] = []
        for root in i.get("paths", []):
            for suffix in _SUFFIXES:
                for path in sorted(glob.glob(os.path.join(root, name + suffix))):
                    if os.path.isfile(path) and not any(_same(path, f) for f in found):
                        found.append(path)
        hook = i.get("hook")
        if callable(hook):
            found = [f for f in found if not hook({"file": f}).get("skip")]
        return {"return": 0, "list": found}

    def find_artifact(self, i: dict[str, Any]) -> dict[str, Any]:
        """Search ``--path`` roots or the PATH for a binary; check versions; export its path."""
        env: dict[str, Any] = i["env"]
        name = str(i["file_name"])
        default_key = str(i.get("default_path_env_key") or "PATH")
        given = env.get(f"{self.prefix}TMP_PATH", "")
        roots = [p for p in str(given).split(os.pathsep) if p] if given else None
        if roots is None:
            roots = self.get_default_path_list({"default_path_env_key": default_key})
        user_input = env.get(f"{self.prefix}INPUT", "")
        if user_input:
            if not os.path.isfile(user_input):
                return {"return": 1, "error": f"--input file {user_input} does not exist"}
            name, roots = os.path.basename(user_input), [os.path.dirname(user_input)]
        candidates = self.find_file_in_paths(
            {"file_name": name, "paths": roots, "hook": i.get("hook")}
        )["list"]
        env_path_key = str(i.get("env_path_key") or "")
        if i.get("detect_version") and env_path_key:
            kept = []
            for path in candidates:
                probe = dict(env)
                probe[env_path_key] = path
                result = self.detect_version_using_script({"env": probe})
                if result.get("return", 0) == 0:
                    kept.append(path)
            candidates = kept
        if not candidates:
            return {"return": 16, "error": f"{name} not found"}
        path = candidates[0]
        folder = os.path.dirname(path)
        if env_path_key:
            env[env_path_key] = path
        default_list = self.get_default_path_list({"default_path_env_key": default_key})
        if folder not in default_list:
            _prepend(env, f"+{default_key}", folder)
            for kind, key in dict(i.get("extra_paths") or {}).items():
                extra = os.path.normpath(os.path.join(folder, "..", str(kind)))
                if os.path.isdir(extra):
                    _prepend(env, str(key), extra)
        return {
            "return": 0,
            "found_path": folder,
            "found_file_path": path,
            "found_file_name": os.path.basename(path),
            "default_path_list": default_list,
        }

    def find_file_deep(self, i: dict[str, Any]) -> dict[str, Any]:
        found = []
        for root in i.get("paths", []):
            for folder, _, files in os.walk(root):
                if i["file_name"] in files:
                    found.append(folder)
        return {"return": 0, "found_paths": found}

    def find_file_back(self, i: dict[str, Any]) -> dict[str, Any]:
        folder = os.path.abspath(str(i.get("path", "")))
        while True:
            if os.path.isfile(os.path.join(folder, str(i["file_name"]))):
                return {"return": 0, "found_path": folder}
            parent = os.path.dirname(folder)
            if parent == folder:
                return {"return": 0, "found_path": ""}
            folder = parent

    # -- versions ----------------------------------------------------------------------------

    def parse_version(self, i: dict[str, Any]) -> dict[str, Any]:
        """Apply ``match_text`` to ``file_name`` (tmp-ver.out); set ``env_key`` and the detected
        version in ``which_env``."""
        file_name = os.path.join(self.cwd, str(i.get("file_name") or "tmp-ver.out"))
        try:
            with open(file_name, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            return {"return": 1, "error": f"version was not detected: {file_name} is missing"}
        match = re.search(str(i["match_text"]), text)
        if match is None:
            return {"return": 1, "error": f"version was not detected in {file_name}"}
        version = match.group(int(i.get("group_number", 0)))
        which_env = i.get("which_env", i.get("env"))
        if isinstance(which_env, dict):
            if i.get("env_key"):
                which_env[str(i["env_key"])] = version
            which_env[f"{self.prefix}DETECTED_VERSION"] = version
        return {"return": 0, "version": version, "string": text}

    # -- dependencies and files --------------------------------------------------------------

    def update_deps(self, i: dict[str, Any]) -> dict[str, Any]:
        """Patch not-yet-run dependencies (raw entries) by name, as ``add_deps`` does."""
        deps = i.get("deps") or []
        for name, patch in dict(i.get("update_deps") or {}).items():
            for dep in deps:
                if isinstance(dep, dict) and name in (dep.get("names") or []):
                    _patch_raw(dep, patch)
        return {"return": 0}

    def clean_some_tmp_files(self, i: dict[str, Any]) -> dict[str, Any]:
        for name in _TMP_FILES:
            path = os.path.join(self.cwd, name)
            if os.path.isfile(path):
                os.remove(path)
        return {"return": 0}

    def _available_variations(self, i: dict[str, Any]) -> dict[str, Any]:
        """CM's and MLC's answer when a package script is run without its variation: an error
        listing the variations there are."""
        meta = i.get("meta") or {}
        names = " ".join(sorted(f"_{v}" for v in (meta.get("variations") or {})))
        alias = meta.get("alias", self.script)
        return {
            "return": 1,
            "error": f'python package variation is not defined in "{alias}". Available: {names}',
        }


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


def _prepend(env: dict[str, Any], key: str, value: str) -> None:
    current = env.get(key)
    items = list(current) if isinstance(current, list | tuple) else ([current] if current else [])
    if value not in items:
        env[key] = [value, *items]


def _satisfies(version: str, env: Mapping[str, Any], prefix: str) -> bool:
    wanted = env.get(f"{prefix}VERSION", "")
    low = env.get(f"{prefix}VERSION_MIN", "")
    high = env.get(f"{prefix}VERSION_MAX", "")
    if wanted and compare_versions(version, str(wanted)) != 0:
        return False
    if low and compare_versions(version, str(low)) < 0:
        return False
    return not (high and compare_versions(version, str(high)) > 0)


def _patch_raw(dep: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if key.endswith(("_if_env", "_any_env")):
            continue
        if key == "tags":
            have = split_tags(str(dep.get("tags", "")))
            dep["tags"] = ",".join([*have, *(t for t in split_tags(str(value)) if t not in have)])
        elif isinstance(value, Mapping) and isinstance(dep.get(key), dict):
            _patch_raw(dep[key], value)
        elif isinstance(value, list) and isinstance(dep.get(key), list):
            dep[key].extend(value)
        else:
            dep[key] = value
