#!/usr/bin/env python3
"""Produce golden data for CM script *planning* (variations, env, versions, deps).

This writes ``cm_plan_golden.json`` (next to this file by default): for each
request in ``CASES`` below, what the real MLCommons CM 4.x script automation
(``cmind`` from PyPI running the corpus's own
``repo/automation/script/module.py``) resolves for
``cm run script --tags=<tags> <inputs> --quiet --fake_run --fake_deps``:
the final variation list, the script env/const after variations, versions
and input-level ``ad``/``adr`` patches (docs/cm-behaviour.md §3.3 to §3.7),
the version constraints and the
default-version result, the four dependency lists after patching, the
first-level deps that CM's ``fake_deps`` mode records as called, the chosen
script alias, and CM's return code / error.

How to reproduce ``tests/data/cm_plan_golden.json`` exactly
----------------------------------------------------------

1. Install the reference CM in a private venv (the golden file was made with
   cmind 4.2.0)::

       python3 -m venv /tmp/cmvenv
       /tmp/cmvenv/bin/pip install cmind==4.2.0

2. Unpack the corpus wheel (cmx4mlops 1.0.1 from PyPI) so that
   ``<corpus>/cmr.yaml`` (``prefix: repo``) and ``<corpus>/repo/script/*``
   exist::

       /tmp/cmvenv/bin/pip download --no-deps cmx4mlops==1.0.1 -d /tmp/corpus
       python3 -m zipfile -e /tmp/corpus/cmx4mlops-1.0.1-py3-none-any.whl \\
           /tmp/corpus/unpacked
       # corpus path: /tmp/corpus/unpacked/cmx4mlops

3. From the repository root run this file **with CM's python** (it imports
   ``cmind`` in worker subprocesses; the driver itself needs only the stdlib)::

       /tmp/cmvenv/bin/python tests/data/make_cm_plan_golden.py \\
           --corpus /tmp/corpus/unpacked/cmx4mlops

   (``--out`` defaults to ``tests/data/cm_plan_golden.json`` next to this
   file; ``--only SUBSTR`` runs only cases whose id contains SUBSTR and is
   for debugging; ``--keep`` keeps the temporary directory.)  Takes ~30 s.
   No network access is needed and nothing is downloaded or executed besides
   CM's own Python code (see "What is executed" below).

What the script does
--------------------

* Copies the corpus into a fresh temporary directory (the original corpus is
  never touched; the copy's files are **not** modified either).
* Uses a scrubbed environment: all ``CM_*`` variables, ``GH_TOKEN`` and the
  proxy variables removed, then ``CM_REPOS=<tmp>/cmhome`` (a private CM home)
  and ``CM_CORE_SKIP_INTERNAL_REPOS=yes``, ``PYTHONDONTWRITEBYTECODE=1``.
* Registers the copy with ``cm import repo --path=<copy>``.
* For every case, starts a **fresh worker process** (this file with
  ``--worker``; cwd = an empty per-case directory) so that nothing (loaded
  metas that CM mutates in place, ``CAutomation.run_state``, remembered
  selections) leaks between cases.  The worker calls, in-process::

      cmind.access({'action': 'run', 'automation': 'script', 'tags': TAGS,
                    'quiet': True, 'fake_run': True, 'fake_deps': True,
                    **INPUTS})

  which is what ``cm run script --tags=TAGS --quiet --fake_run --fake_deps
  --<input>=...`` passes (``--adr.python.version_min=3.9`` becomes
  ``{'adr': {'python': {'version_min': '3.9'}}}``).
* Workers run with ``PYTHONHASHSEED=0``.  Each case is run a second time with
  ``PYTHONHASHSEED=1``; fields that differ are listed in the case's
  ``hash_seed_sensitive`` (CM builds some tag strings from Python ``set``
  differences, so their order is not deterministic in real CM).

How each field is captured
--------------------------

cmind re-imports ``automation/script/module.py`` on every ``cmind.access``
call (``importlib.util.spec_from_file_location`` + ``exec_module``).  The
worker wraps ``importlib.util.spec_from_file_location`` so that right after
that module is executed, the following wrappers are installed on the fresh
module object / its ``CAutomation`` class (no file is edited):

* ``CAutomation._update_state_from_variations`` (phase D; receives ``env``,
  ``const``, the four dep lists, ``add_deps_recursive``, ``run_state`` and
  ``meta`` by reference, which the worker keeps): ``script`` = ``meta.alias``;
  ``explicit_variations`` = the returned ``explicit_variation_tags`` (the
  request's variation tags, excluded ones as ``-x``); ``variations`` =
  the returned ``variation_tags_string`` split on ``,`` with the leading
  ``_`` removed (CM's final order, exactly what ``inherit_variation_tags``
  uses; excluded tags stay in it as ``-x``).  If resolution fails,
  ``variations`` is null and ``variations_at_error`` is the list CM had
  built so far (recorded by wrapping ``_update_variation_tags_from_variations``
  and ``_process_variation_tags_in_groups``).
* module-level ``update_state_from_meta``: ``applied_metas`` is the ordered
  log of every variation / combined variation / version sub-meta CM
  applied (``variation:x``, ``combined:a,b``, ``version:v``), including
  CM's repeated re-application of combined variations.
* module-level ``update_deps_from_input`` + the ``update_env_with_values``
  call that immediately follows it in ``_run`` (end of phase F): snapshot
  of ``env`` (full dict), ``const``, ``versions`` (``CM_VERSION``,
  ``CM_VERSION_MIN``, ``CM_VERSION_MAX``, ``CM_VERSION_MAX_USABLE`` from env;
  null = absent), ``deps`` (deep copies of ``deps``, ``prehook_deps``,
  ``posthook_deps``, ``post_deps``: full dep entries, i.e. ``tags`` before any
  ``update_tags_from_env*``/``inherit_variation_tags`` mutation, ``names``,
  the condition keys and every other key), ``adr`` (the accumulated
  ``add_deps_recursive`` dict passed to children), ``new_env_keys``,
  ``script_name`` and ``default_version`` (``run_state['default_version']``,
  i.e. meta or variation override).
* module-level ``_update_env(env, 'CM_TMP_CURRENT_SCRIPT_PATH', ...)`` (phase H
  step 2, right after the default-version step and before the first dep):
  ``versions.after_default_version`` (the four ``CM_VERSION*`` values),
  ``env_before_deps`` as a delta against the phase-F ``env``
  (``{"set": {...}, "removed": [...]}``) and ``deps_before_run`` (the four
  lists again; they differ from ``deps`` when a default-version sub-meta adds
  or patches deps).  ``fake_run`` does **not** skip the default-version step
  (it only disables caching, so the "cache miss" path runs).
* ``CAutomation._run_deps`` + module-level ``is_dep_tobe_skipped``:
  ``called_deps`` = for every dep list CM actually walked, every entry with
  its status (``called`` / ``skipped`` by its conditions / ``no_tags``) and,
  for called ones, the final tag string CM recorded in ``run_state['deps']``
  (after ``update_tags_from_env_with_prefix``, ``update_tags_from_env`` and
  ``inherit_variation_tags``, evaluated against the live env at that time).
  ``recorded_deps`` is CM's own returned ``deps`` (``run_state['deps']``).
  ``hidden_not_restored`` lists env keys that ``_run_deps`` hid as "local
  env keys" and, because of ``fake_deps``, never put back: later deps of the
  walk are therefore tested against an env without them.  Each entry whose
  skip decision would change if those keys were put back (as a real run
  does after each child returns) carries ``status_with_hidden_keys_restored``.
* ``returncode`` / ``error``: CM's return dict.

What is executed (and what is not)
----------------------------------

``fake_run`` skips ``predeps``/``preprocess``, the native script,
``posthook_deps``, ``postprocess`` and ``post_deps``; it also disables
caching (no cache search or entry).  ``fake_deps`` makes ``_run_deps``
record each enabled dep's tags without calling the child script, so no
nested ``cm run`` happens (``nested_script_runs`` checks it is 0).  CM still
imports each script's ``customize.py`` (module import only, none of its
functions run), computes host OS info in Python and writes/removes a probe
file and ``tmp-*`` files in the per-case cwd.  One import needed a stub:
``app-mlperf-inference`` and ``run-mlperf-inference-app`` import
``mlperf_utils`` at the top of their ``customize.py``; in a real run that
module becomes importable only through the preprocess of their dep
``get-mlperf-inference-utils`` (a ``sys.path`` side effect), so the worker
pre-inserts an empty ``mlperf_utils`` module into ``sys.modules``
(``STUB_MODULES``); fake_run never calls into it.  ``env`` also contains the
keys the capture flags themselves set (``CM_QUIET``, ``CM_TMP_FAKE_RUN``,
``CM_TMP_FAKE_DEPS``).  So ``called_deps`` covers only
``deps`` and ``prehook_deps``; ``posthook_deps`` and ``post_deps`` are never
walked in a fake run (their static lists are still captured).

Path normalisation (for determinism): every string in the output has the
corpus copy path replaced by ``<CORPUS>``, the per-case cwd by ``<CWD>``, the
private CM home by ``<CM_REPOS>``, the temp root by ``<TMP>`` and the user's
home by ``<HOME>``.  No env key is dropped (``CM_TMP_CURRENT_PATH`` becomes
``<CWD>``, ``CM_TMP_CURRENT_SCRIPT_REPO_PATH`` ``<CORPUS>``, ...).
"""

import argparse
import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import types

# ---------------------------------------------------------------------------
# Requests: (id, tags, inputs, note).  inputs are extra keys of the CM input
# dict, as the CLI would produce them (--adr.python.version_min=3.9 ->
# {"adr": {"python": {"version_min": "3.9"}}}).
CASES = [
    ("detect-os", "detect,os", {}, "plain script, no variations"),
    ("detect-cpu", "detect,cpu", {}, "plain script"),
    ("python3", "get,python3", {}, "plain script"),
    ("gpl-numpy", "get,generic-python-lib,_numpy", {}, "static variation"),
    (
        "gpl-package-pyyaml",
        "get,generic-python-lib,_package.pyyaml",
        {},
        "dynamic variation package.#",
    ),
    (
        "gpl-package-numpy",
        "get,generic-python-lib,_package.numpy",
        {},
        "dynamic variation package.#",
    ),
    ("compiler", "get,compiler", {}, "ambiguous tags: --quiet picks index 0 by (sort, path)"),
    ("no-script", "get,no-such-script", {}, "search error: no script"),
    (
        "no-variation",
        "get,python3,_nonexistent",
        {},
        "search error: no script with this variation (16)",
    ),
    (
        "gpl-custom-python",
        "get,generic-python-lib,_custom-python,_package.numpy",
        {},
        "variation ad; dep condition on CM_TMP_USE_CUSTOM_PYTHON (a hidden local key)",
    ),
    (
        "loadgen-from-pip",
        "get,mlperf,inference,loadgen,_from-pip",
        {},
        "default_version master; dep conditions on a CM_TMP_* key",
    ),
    ("resnet50", "get,ml-model,resnet50", {}, "group defaults only"),
    (
        "resnet50-onnx",
        "get,ml-model,resnet50,_onnx",
        {},
        "onnx has default_variations opset-version: opset-11",
    ),
    ("resnet50-tf", "get,ml-model,resnet50,_tf", {}, "alias tf -> tensorflow"),
    (
        "resnet50-pytorch",
        "get,ml-model,resnet50,_pytorch",
        {},
        "combined pytorch,fp32 via default fp32",
    ),
    (
        "resnet50-onnx-opset11",
        "get,ml-model,resnet50,_onnx,_opset-11",
        {},
        "combined onnx,opset-11",
    ),
    ("resnet50-onnx-fp32", "get,ml-model,resnet50,_onnx,_fp32", {}, "explicit default members"),
    ("resnet50-onnxruntime", "get,ml-model,resnet50,_onnxruntime", {}, "alias onnxruntime -> onnx"),
    (
        "resnet50-onnx-fromtf-fp32",
        "get,ml-model,resnet50,_onnx,_from-tf,_fp32",
        {},
        "3-part combined variation with adr model-downloader",
    ),
    (
        "resnet50-pytorch-int8",
        "get,ml-model,resnet50,_pytorch,_int8",
        {},
        "combined pytorch,int8 has base: (ignored on combined keys)",
    ),
    (
        "resnet50-tflite-int8-noargmax",
        "get,ml-model,resnet50,_tflite,_int8,_no-argmax",
        {},
        "several combined variations incl. 3-part",
    ),
    ("resnet50-ncnn", "get,ml-model,resnet50,_ncnn", {}, "combined ncnn,fp32 adds post_deps"),
    ("resnet50-batch8", "get,ml-model,resnet50,_batch_size.8", {}, "dynamic batch_size.#"),
    (
        "resnet50-batch1",
        "get,ml-model,resnet50,_batch_size.1",
        {},
        "static batch_size.1 wins over batch_size.#",
    ),
    (
        "resnet50-conflict",
        "get,ml-model,resnet50,_onnx,_tf",
        {},
        "group conflict: onnx + tensorflow (via alias)",
    ),
    (
        "resnet50-conflict-direct",
        "get,ml-model,resnet50,_fp32,_int8",
        {},
        "group conflict, two explicit members",
    ),
    ("resnet50-exclude-onnx", "get,ml-model,resnet50,-_onnx", {}, "excluded group default"),
    ("resnet50-exclude-fp32", "get,ml-model,resnet50,_onnx,-_fp32", {}, "excluded group default"),
    (
        "resnet50-alias-excluded",
        "get,ml-model,resnet50,_tf,-_tensorflow",
        {},
        "alias target excluded -> error",
    ),
    (
        "resnet50-env-input",
        "get,ml-model,resnet50",
        {"env": {"CM_ML_MODEL": "user", "CM_USER_X": "1"}},
        "--env.X: meta env overwrites the user's value",
    ),
    (
        "effnet-lite0",
        "get,ml-model,efficientnet,lite,_lite0",
        {},
        "base: resolution-224; valid_variation_combinations",
    ),
    (
        "effnet-lite0-res240",
        "get,ml-model,efficientnet,lite,_lite0,_resolution-240",
        {},
        "base added to an already-chosen group -> conflict",
    ),
    (
        "effnet-default",
        "get,ml-model,efficientnet,lite",
        {},
        "defaults only vs valid_variation_combinations",
    ),
    (
        "effnet-exclude-lite0",
        "get,ml-model,efficientnet,lite,-_lite0",
        {},
        "no lite* selected -> valid_variation_combinations fail",
    ),
    (
        "effnet-lite0-exclude-base",
        "get,ml-model,efficientnet,lite,_lite0,-_resolution-224",
        {},
        "excluded base variation -> error",
    ),
    (
        "imagenet-val-2012-500",
        "get,dataset,imagenet,validation,_2012-500",
        {},
        "base with a dynamic variation (size.500)",
    ),
    ("mlperf-src-octoml", "get,mlperf,inference,src,_octoml", {}, "base with dynamic _repo.<url>"),
    (
        "gpl-torch-cxx11",
        "get,generic-python-lib,_package.torch,_cxx11-abi",
        {},
        "combined key package.torch,cxx11-abi with a dynamic-valued part",
    ),
    ("venv-inherit", "install,python-venv,_shared,_lto", {}, "dep with inherit_variation_tags"),
    (
        "sys-util-inherit-env",
        "get,generic,sys-util,_wget",
        {"env": {"CM_GENERIC_SYS_UTIL_INSTALL_NEEDED": "yes"}},
        "--env.X loses against meta env: prehook dep stays disabled",
    ),
    (
        "sys-util-inherit",
        "get,generic,sys-util,_wget",
        {"const": {"CM_GENERIC_SYS_UTIL_INSTALL_NEEDED": "yes"}},
        "--const.X wins: inherit_variation_tags + skip_inherit_variation_groups on the prehook dep",
    ),
    ("python3-conda", "get,python3,_conda.myenv", {}, "dynamic conda.#"),
    (
        "dae-url",
        "download-and-extract,_url.https://example.com/x.tar.gz",
        {},
        "dynamic url.# with ':' and '/'",
    ),
    (
        "git-repo-branch",
        "get,git,repo,_repo.https://github.com/x/y,_branch.main",
        {},
        "two dynamic variations",
    ),
    ("git-repo-sha", "get,git,repo,_sha.abc123", {}, "dynamic variation with default_variations"),
    (
        "app-mlperf-ref-resnet50",
        "app,mlperf,inference,_reference,_resnet50,_onnxruntime,_cpu,_offline,_test",
        {},
        "generic app-mlperf-inference, adr from variations",
    ),
    (
        "app-mlperf-python-alias",
        "app,mlperf,inference,generic,_python,_resnet50",
        {},
        "alias python -> reference in app-mlperf-inference",
    ),
    (
        "app-mlperf-invalid-combo",
        "app,mlperf,inference,generic,_reference,_retinanet,_tf",
        {},
        "invalid_variation_combinations [retinanet, tf]",
    ),
    (
        "app-mlperf-mode-input",
        "app,mlperf,inference,generic,_reference,_resnet50",
        {"mode": "accuracy", "num_threads": "4"},
        "input_mapping -> env + const",
    ),
    (
        "run-mlperf-find-perf",
        "run,mlperf,inference,_find-performance",
        {},
        "run-mlperf-inference-app",
    ),
    (
        "run-mlperf-inputs",
        "run-mlperf,inference",
        {
            "scenario": "Offline",
            "mode": "accuracy",
            "model": "resnet50",
            "implementation": "reference",
            "backend": "onnxruntime",
            "device": "cpu",
        },
        "run-mlperf-inference-app input_mapping",
    ),
    (
        "run-mlperf-ambiguous",
        "run,mlperf,inference",
        {"scenario": "Offline"},
        "ambiguous: 5 scripts, index 0",
    ),
    ("benchmark-program", "benchmark,program", {}, "benchmark-program"),
    ("python3-version-min", "get,python3", {"version_min": "3.8"}, "version_min input"),
    ("cmake-version", "get,cmake", {"version": "3.28.1"}, "version input"),
    (
        "mlperf-src-default",
        "get,mlperf,inference,src",
        {},
        "default_version master + versions sub-meta",
    ),
    (
        "mlperf-src-r31",
        "get,mlperf,inference,src",
        {"version": "r3.1"},
        "explicit version with ad in sub-meta",
    ),
    (
        "mlperf-src-adr-python",
        "get,mlperf,inference,src",
        {"adr": {"python": {"version_min": "3.9"}}},
        "--adr.python.version_min=3.9",
    ),
    (
        "mlperf-src-adr-tags",
        "get,mlperf,inference,src",
        {"adr": {"inference-git-repo": {"tags": "_branch.dev"}, "python3": {"tags": "_shared"}}},
        "--adr.NAME.tags=...",
    ),
    (
        "mlperf-src-ad-bad",
        "get,mlperf,inference,src",
        {"ad": {"no-such-dep": {"tags": "_x"}}},
        "ad with a name no dep has -> error",
    ),
    ("squad-default", "get,dataset,squad,original", {}, "default_version 1.1"),
    (
        "squad-version-min",
        "get,dataset,squad,original",
        {"version_min": "2.0"},
        "default_version clamped up to version_min; sub-meta key lookup",
    ),
    (
        "cmake-prebuilt-clamp",
        "install,prebuilt,cmake",
        {"version_max": "3.20.0", "version_max_usable": "3.19.1"},
        "default_version 3.28.3 clamped to version_max_usable",
    ),
    (
        "cmake-prebuilt-max",
        "install,prebuilt,cmake",
        {"version_max": "3.20.0"},
        "default_version clamped to version_max (no usable)",
    ),
    (
        "cmake-prebuilt-min",
        "install,prebuilt,cmake",
        {"version_min": "3.29.0"},
        "default_version clamped up to version_min",
    ),
]

# Modules that some customize.py files import at top level but that only a
# dep's side effect (never run under fake_deps) would make importable.
STUB_MODULES = ["mlperf_utils"]

# dep list names in CM's order of use
DEP_LISTS = ["deps", "prehook_deps", "posthook_deps", "post_deps"]
VERSION_KEYS = ["CM_VERSION", "CM_VERSION_MIN", "CM_VERSION_MAX", "CM_VERSION_MAX_USABLE"]


# ===========================================================================
# worker: runs inside the CM venv, one case per process
# ===========================================================================
class Capture:
    """Wrappers installed on a freshly loaded script automation module."""

    def __init__(self):
        self.cap = {
            "script": None,
            "script_uid": None,
            "explicit_variations": None,
            "variation_tags_string": None,
            "variations_at_error": None,
            "applied_metas": [],
            "phase_f": None,
            "before_deps": None,
            "dep_walks": [],
            "nested_script_runs": 0,
            "hidden_not_restored": {},
        }
        self.refs = {}
        self.depth = 0
        self.after_update_deps_from_input = False
        self.skip_log = None
        self.walk_env0 = None

    # -- helpers ------------------------------------------------------------
    def top(self, env=None):
        """True inside the top-level _run (and, if given, for its env object)."""
        return self.depth == 1 and (env is None or env is self.refs.get("env"))

    def deps_snapshot(self):
        return {name: copy.deepcopy(self.refs[name]) for name in DEP_LISTS}

    def meta_label(self, m):
        meta = self.refs.get("meta") or {}
        for k, v in (meta.get("variations") or {}).items():
            if v is m:
                return ("combined:" if "," in k else "variation:") + k
        for k, v in (meta.get("versions") or {}).items():
            if v is m:
                return "version:" + k
        return "other"

    # -- installation -------------------------------------------------------
    def install(self, mod):
        c = mod.CAutomation
        c._run = self.wrap_run(c._run)
        c._update_state_from_variations = self.wrap_usfv(c._update_state_from_variations)
        c._update_variation_tags_from_variations = self.wrap_closure(
            c._update_variation_tags_from_variations
        )
        c._process_variation_tags_in_groups = self.wrap_groups(c._process_variation_tags_in_groups)
        c._run_deps = self.wrap_run_deps(c._run_deps)
        mod.update_state_from_meta = self.wrap_usfm(mod.update_state_from_meta)
        mod.update_deps_from_input = self.wrap_udfi(mod.update_deps_from_input)
        mod.update_env_with_values = self.wrap_uewv(mod.update_env_with_values)
        mod._update_env = self.wrap_update_env(mod._update_env)
        mod.is_dep_tobe_skipped = self.wrap_skip(mod.is_dep_tobe_skipped)

    def wrap_run(self, orig):
        def _run(automation, i):
            self.depth += 1
            if self.depth > 1:
                self.cap["nested_script_runs"] += 1
            try:
                return orig(automation, i)
            finally:
                self.depth -= 1

        return _run

    def wrap_usfv(self, orig):
        # signature: (self, i, meta, variation_tags, variations, env, state, const,
        #             const_state, deps, post_deps, prehook_deps, posthook_deps,
        #             new_env_keys, new_state_keys, add_deps_recursive, run_state, ...)
        names = ["i", "meta", "variation_tags", "variations", "env", "state", "const"]
        names += ["const_state", "deps", "post_deps", "prehook_deps", "posthook_deps"]
        names += ["new_env_keys", "new_state_keys", "adr", "run_state"]

        def _usfv(automation, *args):
            if self.top() and "env" not in self.refs:
                a = dict(zip(names, args, strict=False))
                keep = ["meta", "env", "const", "state", *DEP_LISTS, "new_env_keys", "adr"]
                self.refs.update({k: a[k] for k in [*keep, "run_state"]})
                self.cap["script"] = a["meta"].get("alias")
                self.cap["script_uid"] = a["meta"].get("uid")
                self.cap["explicit_variations"] = list(a["variation_tags"])
            r = orig(automation, *args)
            if self.top() and r.get("return", 0) == 0:
                self.cap["variation_tags_string"] = r["variation_tags_string"]
                self.cap["explicit_variations"] = list(r["explicit_variation_tags"])
            return r

        return _usfv

    def wrap_closure(self, orig):
        def _closure(automation, variation_tags, *a, **k):
            r = orig(automation, variation_tags, *a, **k)
            if self.top():
                self.cap["variations_at_error"] = list(variation_tags)  # mutated in place
            return r

        return _closure

    def wrap_groups(self, orig):
        def _groups(automation, variation_tags, *a, **k):
            r = orig(automation, variation_tags, *a, **k)
            if self.top():
                self.cap["variations_at_error"] = list(r.get("variation_tags", variation_tags))
            return r

        return _groups

    def wrap_usfm(self, orig):
        def usfm(meta, *a, **k):
            if self.top() and "meta" in self.refs:
                self.cap["applied_metas"].append(self.meta_label(meta))
            return orig(meta, *a, **k)

        return usfm

    def wrap_udfi(self, orig):
        def udfi(*a, **k):
            r = orig(*a, **k)
            if self.top() and r.get("return", 0) == 0:
                self.after_update_deps_from_input = True
            return r

        return udfi

    def wrap_uewv(self, orig):
        def uewv(env, *a, **k):
            r = orig(env, *a, **k)
            if self.after_update_deps_from_input and self.top(env):
                self.after_update_deps_from_input = False
                refs = self.refs
                self.cap["phase_f"] = {
                    "env": copy.deepcopy(env),
                    "const": copy.deepcopy(refs["const"]),
                    "versions": {key: env.get(key) for key in VERSION_KEYS},
                    "deps": self.deps_snapshot(),
                    "adr": copy.deepcopy(refs["adr"]),
                    "new_env_keys": list(refs["new_env_keys"]),
                    "script_name": refs["meta"].get("script_name"),
                    "default_version": refs["run_state"].get("default_version"),
                }
            return r

        return uewv

    def wrap_update_env(self, orig):
        def _update_env(env, key=None, value=None):
            r = orig(env, key, value)
            first = self.cap["before_deps"] is None
            if key == "CM_TMP_CURRENT_SCRIPT_PATH" and self.top(env) and first:
                self.cap["before_deps"] = {
                    "env": copy.deepcopy(env),
                    "versions": {k: env.get(k) for k in VERSION_KEYS},
                    "deps": self.deps_snapshot(),
                    "adr": copy.deepcopy(self.refs["adr"]),
                }
            return r

        return _update_env

    def wrap_skip(self, orig):
        def is_dep_tobe_skipped(d, env):
            res = orig(d, env)
            if self.skip_log is not None:
                # Same test against the env with the local keys that earlier
                # iterations hid (and, under fake_deps, never restored) put
                # back: what a real run's env holds for these keys.
                restored = dict(env)
                for key, value in self.walk_env0.items():
                    restored.setdefault(key, value)
                self.skip_log[id(d)] = (res, orig(d, restored))
            return res

        return is_dep_tobe_skipped

    def wrap_run_deps(self, orig):
        def _run_deps(automation, deps, clean_env_keys_deps, env, *a, **k):
            if not self.top(env):
                return orig(automation, deps, clean_env_keys_deps, env, *a, **k)
            name = next((n for n in DEP_LISTS if self.refs.get(n) is deps), "other")
            run_state = self.refs["run_state"]
            n0 = len(run_state.get("deps", []))
            before = copy.deepcopy(deps)
            self.skip_log, self.walk_env0 = {}, copy.deepcopy(env)
            try:
                r = orig(automation, deps, clean_env_keys_deps, env, *a, **k)
            finally:
                log, self.skip_log = self.skip_log, None
            recorded = list(run_state.get("deps", []))[n0:]
            entries = [walk_entry(i, d, before[i], log) for i, d in enumerate(deps)]
            called = [e["tags"] for e in entries if e["status"] == "called"]
            self.cap["dep_walks"].append(
                {
                    "list": name,
                    "entries": entries,
                    "recorded": recorded,
                    "consistent_with_run_state": called == recorded,
                    "returncode": r.get("return"),
                }
            )
            gone = sorted(set(self.walk_env0) - set(env))
            if gone:
                self.cap["hidden_not_restored"][name] = gone
            return r

        return _run_deps


def walk_entry(index, dep, dep_before, log):
    """Status of one dep of a _run_deps walk."""
    e = {"index": index, "tags_static": dep_before.get("tags"), "names": dep.get("names")}
    res = log.get(id(dep))
    if not dep_before.get("tags"):
        e["status"] = "no_tags"
    elif res is None:
        e["status"] = "not_reached"
    elif res[0]:
        e["status"] = "skipped"
    else:
        e["status"] = "called"
        e["tags"] = dep.get("tags")
    if res is not None and res[0] != res[1]:
        e["status_with_hidden_keys_restored"] = "skipped" if res[1] else "called"
    return e


def hook_module_loading(capture):
    """Install ``capture`` on every load of automation/script/module.py."""
    import importlib.util

    target_suffix = os.path.join("automation", "script", "module.py")
    orig_sffl = importlib.util.spec_from_file_location

    def spec_from_file_location(name, location=None, *a, **k):
        spec = orig_sffl(name, location, *a, **k)
        if spec is not None and location and str(location).endswith(target_suffix):
            orig_exec = spec.loader.exec_module

            def exec_module(module):
                orig_exec(module)
                capture.install(module)

            spec.loader.exec_module = exec_module
        return spec

    importlib.util.spec_from_file_location = spec_from_file_location


def worker(case_file, result_file):
    with open(case_file) as f:
        case = json.load(f)
    capture = Capture()
    hook_module_loading(capture)
    # app-mlperf-inference / run-mlperf-inference-app customize.py do a
    # top-level ``import mlperf_utils``.  In a real run that module becomes
    # importable through the preprocess of their dep get-mlperf-inference-utils
    # (it appends its script dir to sys.path), and it imports submission_checker
    # from the downloaded MLPerf sources.  Under fake_deps that dep never runs,
    # so CM would fail loading customize.py after walking ``deps``.  fake_run
    # never calls a customize.py function, so the stub is never used.
    for stub in STUB_MODULES:
        sys.modules.setdefault(stub, types.ModuleType(stub))

    import cmind

    inp = {"action": "run", "automation": "script", "tags": case["tags"]}
    inp.update({"quiet": True, "fake_run": True, "fake_deps": True})
    inp.update(copy.deepcopy(case["inputs"]))
    try:
        r = cmind.access(inp)
    except Exception as e:  # reported, not hidden
        r = {"return": 99, "error": "python exception: " + repr(e)}
    ok = r.get("return", 0) == 0
    out = {
        "cmind_version": cmind.__version__,
        "returncode": r.get("return"),
        "error": None if ok else r.get("error"),
        "recorded_deps": r.get("deps") if ok else None,
        "cap": capture.cap,
    }
    with open(result_file, "w") as f:
        json.dump(out, f, sort_keys=True, default=repr)


# ===========================================================================
# driver
# ===========================================================================
PROXY_VARS = ["ftp_proxy", "http_proxy", "https_proxy", "no_proxy", "socks_proxy"]


def scrubbed_env(cm_repos, seed):
    drop = {"GH_TOKEN", *PROXY_VARS, *(v.upper() for v in PROXY_VARS)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_") and k not in drop}
    env["CM_REPOS"] = cm_repos
    env["CM_CORE_SKIP_INTERNAL_REPOS"] = "yes"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = str(seed)
    return env


class Normaliser:
    """Replace machine-specific paths by placeholders, recursively."""

    def __init__(self, pairs):
        pairs = list(pairs)
        pairs += [(os.path.realpath(p), lab) for p, lab in pairs if os.path.realpath(p) != p]
        # longest path first so that nested paths get the most specific label
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def __call__(self, obj):
        if isinstance(obj, str):
            for path, label in self.pairs:
                if path and path in obj:
                    obj = obj.replace(path, label)
            return obj
        if isinstance(obj, list):
            return [self(x) for x in obj]
        if isinstance(obj, dict):
            return {self(k): self(v) for k, v in obj.items()}
        return obj


def env_delta(old, new):
    return {
        "set": {k: v for k, v in new.items() if k not in old or old[k] != v},
        "removed": sorted(k for k in old if k not in new),
    }


def split_variations(vts):
    if vts is None:
        return None
    return [t[1:] if t.startswith("_") else t for t in vts.split(",")] if vts else []


def build_case(spec, res):
    cid, tags, inputs, note = spec
    cap = res["cap"]
    pf = cap.get("phase_f") or {}
    bd = cap.get("before_deps") or {}
    variations = split_variations(cap.get("variation_tags_string"))
    versions = None
    if pf:
        versions = dict(pf["versions"])
        versions["default_version"] = pf.get("default_version")
        versions["after_default_version"] = bd.get("versions")
    walks = cap.get("dep_walks", [])
    called = [dict(e, list=w["list"]) for w in walks for e in w["entries"]]
    case = {
        "id": cid,
        "tags": tags,
        "inputs": inputs,
        "note": note,
        "script": cap.get("script"),
        "script_uid": cap.get("script_uid"),
        "explicit_variations": cap.get("explicit_variations"),
        "variations": variations,
        "variation_tags_string": cap.get("variation_tags_string"),
        "variations_at_error": cap.get("variations_at_error") if variations is None else None,
        "applied_metas": cap.get("applied_metas"),
        "env": pf.get("env"),
        "const": pf.get("const"),
        "versions": versions,
        "deps": pf.get("deps"),
        "adr": pf.get("adr"),
        "new_env_keys": pf.get("new_env_keys"),
        "script_name": pf.get("script_name"),
        "env_before_deps": env_delta(pf["env"], bd["env"]) if pf and bd else None,
        "deps_before_run": bd.get("deps"),
        "adr_before_run": bd.get("adr"),
        "called_deps": called if (pf and bd) else None,
        "dep_lists_walked": [w["list"] for w in walks],
        "recorded_deps": res.get("recorded_deps"),
        "hidden_not_restored": cap.get("hidden_not_restored") or None,
        "nested_script_runs": cap.get("nested_script_runs"),
        "returncode": res.get("returncode"),
        "error": res.get("error"),
    }
    if not all(w["consistent_with_run_state"] for w in walks):
        case["capture_warning"] = "called_deps differ from run_state['deps'] slices"
    return case


def register_corpus(corpus, tmp):
    corpus_copy = os.path.join(tmp, "cmx4mlops")
    shutil.copytree(corpus, corpus_copy, symlinks=True)
    cm_repos = os.path.join(tmp, "cmhome")
    cm_exe = os.path.join(os.path.dirname(sys.executable), "cm")
    cmd = [cm_exe] if os.path.isfile(cm_exe) else [sys.executable, "-m", "cmind"]
    p = subprocess.run(
        [*cmd, "import", "repo", "--path=" + corpus_copy],
        env=scrubbed_env(cm_repos, 0),
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        sys.exit(f"cm import repo failed: {p.stdout}\n{p.stderr}")
    return corpus_copy, cm_repos


def run_worker(spec, idx, seed, dirs, timeout):
    tmp, corpus_copy, cm_repos = dirs
    base = os.path.join(tmp, "work", f"{idx:03d}-{seed}")
    os.makedirs(base)
    case_file, result_file = base + ".case.json", base + ".result.json"
    with open(case_file, "w") as f:
        json.dump({"tags": spec[1], "inputs": spec[2]}, f)
    wp = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", case_file, result_file],
        env=scrubbed_env(cm_repos, seed),
        cwd=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if wp.returncode != 0 or not os.path.isfile(result_file):
        out = wp.stdout[-3000:] + "\n" + wp.stderr[-3000:]
        sys.exit(f"worker failed for {spec[0]}: rc={wp.returncode}\n{out}")
    with open(result_file) as f:
        res = json.load(f)
    norm = Normaliser(
        [
            (corpus_copy, "<CORPUS>"),
            (base, "<CWD>"),
            (cm_repos, "<CM_REPOS>"),
            (tmp, "<TMP>"),
            (os.path.expanduser("~"), "<HOME>"),
        ]
    )
    return res["cmind_version"], norm(build_case(spec, res))


def run_case(spec, idx, dirs, timeout):
    """Run one case with PYTHONHASHSEED 0 (kept) and 1 (compared)."""
    version, case = run_worker(spec, idx, 0, dirs, timeout)
    _, other = run_worker(spec, idx, 1, dirs, timeout)
    diff = sorted(k for k in case if case[k] != other.get(k))
    case["hash_seed_sensitive"] = diff or None
    n_called = len([c for c in (case["called_deps"] or []) if c["status"] == "called"])
    print(
        f"{spec[0]:<32} rc={case['returncode']} script={case['script']} "
        f"vars={case['variations']} called={n_called}"
        + (f" SEED-SENSITIVE={diff}" if diff else ""),
        file=sys.stderr,
    )
    return version, case


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", help="unpacked cmx4mlops dir (contains cmr.yaml)")
    ap.add_argument("--corpus-label", default=None)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "cm_plan_golden.json"))
    ap.add_argument("--only", default=None, help="debug: only cases whose id contains this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "RESULT"), help=argparse.SUPPRESS)
    return ap, ap.parse_args()


def main():
    ap, args = parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not args.corpus:
        ap.error("--corpus is required")
    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(os.path.join(corpus, "cmr.yaml")):
        sys.exit(f"no cmr.yaml in corpus path {corpus}")
    label = args.corpus_label
    if label is None:
        vfile = os.path.join(corpus, "VERSION")
        label = "cmx4mlops==" + (open(vfile).read().strip() if os.path.isfile(vfile) else "?")
    ids = [c[0] for c in CASES]
    if len(ids) != len(set(ids)):
        sys.exit("duplicate case ids")
    cases = [c for c in CASES if not args.only or args.only in c[0]]

    tmp = tempfile.mkdtemp(prefix="cm_plan_golden_")
    try:
        corpus_copy, cm_repos = register_corpus(corpus, tmp)
        dirs = (tmp, corpus_copy, cm_repos)
        results, cmind_version = [], None
        for idx, spec in enumerate(cases):
            cmind_version, case = run_case(spec, idx, dirs, args.timeout)
            results.append(case)
        doc = {
            "cmind_version": cmind_version,
            "corpus": label,
            "produced_by": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "cm_call": CM_CALL,
            "environment": ENVIRONMENT,
            "method": METHOD,
            "quirks": QUIRKS,
            "fields": FIELDS,
            "cases": results,
        }
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True, default=repr)
            f.write("\n")
        print(f"wrote {args.out} ({len(results)} cases, cmind {cmind_version})", file=sys.stderr)
        if args.keep:
            print(f"kept temp dir {tmp}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


CM_CALL = (
    "cmind.access({'action': 'run', 'automation': 'script', 'tags': <tags>, "
    "'quiet': True, 'fake_run': True, 'fake_deps': True, **<inputs>}) "
    "in a fresh process per case"
)

ENVIRONMENT = {
    "CM_REPOS": "<tmp>/cmhome (fresh; corpus copy registered with `cm import repo --path=<copy>`)",
    "CM_CORE_SKIP_INTERNAL_REPOS": "yes",
    "other CM_* variables, GH_TOKEN, proxy variables": "removed",
    "PYTHONHASHSEED": "0 (each case re-run with 1 to fill hash_seed_sensitive)",
    "cwd": "an empty per-case directory (<CWD>)",
}

METHOD = [
    "The corpus's own automation/script/module.py is run unmodified by cmind; the worker "
    "wraps importlib.util.spec_from_file_location so that every time cmind (re)loads that "
    "module, wrappers are installed on the fresh module/CAutomation class (no file is "
    "edited). See the generator's docstring.",
    "fake_run: CM skips predeps/preprocess, the native script, posthook_deps, postprocess "
    "and post_deps, and disables caching (no cache search, no cache entry). It does NOT skip "
    "the default_version step, which happens on the (forced) cache-miss path before deps.",
    "fake_deps: CM's _run_deps evaluates each dep's conditions and update_tags_* / "
    "inherit_variation_tags against the live env, appends the final tag string to "
    "run_state['deps'] and does not call the child. nested_script_runs is 0 in every case.",
    "Nothing is downloaded and no native script runs. CM still imports each script's "
    "customize.py (no function of it is called), computes host OS info in Python, and "
    "writes/removes a probe file and tmp-* files in the per-case cwd.",
    "env/const/versions/deps/adr/new_env_keys/script_name/default_version: snapshot at the "
    "end of phase F (right after update_deps_from_input and the update_env_with_values call "
    "that follows it in _run), i.e. after base meta, input_mapping, variations, the requested "
    "version's sub-meta and input ad/adr, before default_version and before any dep.",
    "env_before_deps/deps_before_run/adr_before_run/versions.after_default_version: snapshot "
    "when _run sets CM_TMP_CURRENT_SCRIPT_PATH (phase H step 2), i.e. after the "
    "default_version step, before the first dep; env_before_deps is a delta against env.",
    "deps / deps_before_run: full dep entries (deep copies) of deps, prehook_deps, "
    "posthook_deps, post_deps (tags not yet mutated by update_tags_from_env* / "
    "inherit_variation_tags).",
    "called_deps: one entry per dep of each list CM walked (only deps and prehook_deps in a "
    "fake run), with status called/skipped/no_tags and, if called, the final tag string CM "
    "recorded; recorded_deps is CM's returned run_state['deps'] (null on error).",
    "variations: variation_tags_string split on ',' with the leading '_' removed (CM's final "
    "order, including excluded tags as '-x'); explicit_variations: CM's "
    "explicit_variation_tags.",
    "Paths normalised to <CORPUS>, <CWD>, <CM_REPOS>, <TMP>, <HOME>; no env key is dropped. "
    "env includes the keys set by the capture flags themselves: CM_QUIET=yes, "
    "CM_TMP_FAKE_RUN=yes, CM_TMP_FAKE_DEPS=yes.",
    "A stub module 'mlperf_utils' is pre-inserted into sys.modules: app-mlperf-inference and "
    "run-mlperf-inference-app import it at the top of customize.py, and in a real run it only "
    "becomes importable through the preprocess of their dep get-mlperf-inference-utils "
    "(sys.path side effect), which fake_deps does not run. No customize.py function is "
    "called in a fake run, so the stub is never used.",
    "Not capturable with fake_run: anything produced by preprocess/predeps (e.g. "
    "run-mlperf-inference-app starts its real child runs from customize.py), the native "
    "script, posthook_deps/post_deps walks, the new_env of deps (deps are not run, so later "
    "deps' conditions and update_tags_* see no dep outputs).",
]

QUIRKS = [
    "fake_deps never restores the local env keys (CM_TMP_*, CM_GIT_*, CM_VERSION*, ...) "
    "that _run_deps hides before each dep, so every dep after the first is tested against "
    "an env without them (hidden_not_restored, status_with_hidden_keys_restored; e.g. "
    "gpl-custom-python: get,python3 has skip_if_env CM_TMP_USE_CUSTOM_PYTHON=on and is "
    "recorded as called, a real run skips it; loadgen-from-pip: get,compiler).",
    "<<<VAR>>> in env is resolved by update_env_with_values after every applied (combined) "
    "variation, i.e. against intermediate values: resnet50-tflite-int8-noargmax has "
    "CM_ML_MODEL_STARTING_WEIGHTS_FILENAME = the tflite,no-argmax URL although the final "
    "CM_PACKAGE_URL comes from tflite,int8,no-argmax.",
    "Combined variations are re-applied after every single variation (applied_metas).",
    "Tags appended by ad/adr patches come from a set difference: their order depends on "
    "PYTHONHASHSEED (hash_seed_sensitive, e.g. app-mlperf-ref-resnet50 prehook dep tags). "
    "Group-conflict error messages print a set, also seed dependent.",
    "default_version is clamped to version_min/version_max(_usable), but the versions "
    "sub-meta applied is the one of the unclamped default: squad-version-min gets "
    "CM_VERSION=2.0 with the 1.1 sub-meta env.",
    "A variation's base is added even if its group already has an explicit member -> group "
    "conflict (effnet-lite0-res240); an excluded base is an error "
    "(effnet-lite0-exclude-base).",
    "A base written with a leading '_' (get-mlperf-inference-src octoml: _repo.<url>) is not "
    "found -> error (mlperf-src-octoml).",
    "update_deps_from_input tests ad/adr patch conditions against i['env'] (the input env, "
    "{} if none), not the script env.",
    "The input 'env' loses against meta env (sys-util-inherit-env), input 'const' wins "
    "(sys-util-inherit).",
    "No script in the corpus has a top-level default_variation (one is inside a variation "
    "of app-mlperf-inference-nvidia, where the engine ignores it), so no case exercises it.",
]

FIELDS = {
    "script": "alias of the script CM selected (null if search failed)",
    "explicit_variations": "variation tags from the request (excluded as '-x'), as CM returns them",
    "variations": "final resolved variation list in CM's order (null on a resolution error)",
    "variations_at_error": "when variations is null: the list CM had built when it failed "
    "(null if it failed before the closure step)",
    "applied_metas": "ordered log of variation/combined/version sub-metas CM applied via "
    "update_state_from_meta",
    "env": "full env at end of phase F",
    "const": "const at end of phase F",
    "versions": "CM_VERSION* from env at end of phase F (null = absent), default_version "
    "(run_state, after variation overrides), after_default_version (CM_VERSION* before the "
    "first dep)",
    "deps": "{deps, prehook_deps, posthook_deps, post_deps} at end of phase F",
    "adr": "accumulated add_deps_recursive at end of phase F (passed to every child)",
    "new_env_keys": "export filter after variations/versions",
    "env_before_deps": "{set, removed} delta of env between end of phase F and the first dep",
    "deps_before_run": "dep lists right before the first dep (after default-version sub-meta)",
    "called_deps": "per walked list entry: list, index, names, tags_static (at walk start), "
    "status (called/skipped/no_tags), tags (final, if called), "
    "status_with_hidden_keys_restored (only if different)",
    "dep_lists_walked": "lists CM's _run_deps walked (fake_run: deps and prehook_deps only, "
    "if non-empty)",
    "recorded_deps": "CM's returned deps (run_state['deps'])",
    "hidden_not_restored": "env keys _run_deps hid as local keys and, under fake_deps, never "
    "restored",
    "hash_seed_sensitive": "fields that differ between PYTHONHASHSEED=0 and 1 (set-order "
    "dependent in CM)",
}


if __name__ == "__main__":
    main()
