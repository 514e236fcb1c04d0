#!/usr/bin/env python3
"""Produce golden data for ``cm find script --tags=...`` from real MLCommons CM.

This writes ``cm_find_golden.json`` (next to this file by default): what the
real CM 4.x command line (``cmind`` from PyPI) prints for
``cm find script --tags=<tags>`` over the cmx4mlops script corpus, for each
request in ``CASES`` below.

How to reproduce ``tests/data/cm_find_golden.json`` exactly
----------------------------------------------------------

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

3. From the repository root run (stdlib only, any python3)::

       python3 tests/data/make_cm_find_golden.py \\
           --cm /tmp/cmvenv/bin/cm --corpus /tmp/corpus/unpacked/cmx4mlops

What the script does
--------------------

* Copies the corpus into a fresh temporary directory (CM imports the corpus's
  own ``repo/automation/script/module.py`` and may write ``__pycache__`` etc.;
  the original corpus is never touched).
* Runs every ``cm`` command with a scrubbed environment: all ``CM_*``
  variables removed, then ``CM_REPOS=<tmp>/cmhome`` (private CM home) and
  ``CM_CORE_SKIP_INTERNAL_REPOS=yes`` (so that no other installed ``cm*``
  Python package is auto-registered as a repo), cwd = the temp dir.
* Registers the corpus with ``cm import repo --path=<copy>`` (this also builds
  CM's index, ``<tmp>/cmhome/index.json``), then checks that
  ``cm find script --tags=detect,os`` prints exactly the corpus ``detect-os``.
* For each case runs ``cm find script --tags=<tags>`` twice:
  - with CM's default settings (index ON, the normal user-visible behaviour;
    the index is warm because ``import repo`` built it): recorded in the
    top-level ``returncode`` / ``aliases`` / ``error`` / ``extra_output``;
  - with ``CM_INDEX=no`` (plain directory scan): recorded under
    ``index_off``.  These differ only where the corpus has duplicate UIDs:
    the index keeps only the first artifact per UID, so some scripts are
    invisible to tag search when the index is on.
* ``aliases`` are the script directory names, in exactly the order CM
  printed the paths (no reordering).  ``error`` is null when the command
  exits 0, otherwise the stderr text (plus any non-path stdout text).
  ``extra_output`` holds any printed text that is not a script path (null if
  none).
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import golden_runs  # this folder's shared code (stdlib only, as this script)

# Requests: the tags string passed as ``--tags=<tags>``.
CASES = [
    # --- basic positive lookups
    "get,python3",
    "get,python",
    "get,compiler",
    "detect,os",
    "detect,cpu",
    "get,cuda",
    "install,python-venv",
    "get,mlperf,inference,src",
    "run,mlperf,inference",
    "get,sys-utils-cm",
    "benchmark-program",
    "get,git,repo",
    "get,ml-model,resnet50",
    "get,dataset,imagenet",
    "download-and-extract",
    "get,generic-python-lib",
    # --- variations (``_x``): find filters scripts whose meta lacks them
    "get,generic-python-lib,_numpy",
    "app,mlperf,inference,_reference",
    "get,generic-python-lib,_package.numpy",  # dynamic variation 'package.#'
    "get,generic-python-lib,_package.",  # trailing dot: no wildcard match
    "get,python3,_conda.test",  # dynamic variation 'conda.#'
    "get,python3,_conda",  # 'conda' alone is not a variation
    "get,python3,_shared,_lto",
    "get,python3,_shared,_nonexistent",
    "get,python3,_nonexistent",
    "get,compiler,_nonexistent",
    # --- ``-_x`` (negated variation) in find
    "get,python3,-_conda.test",
    "get,python3,-_shared",
    "get,python3,-_nonexistent",
    "get,python3,_shared,-_shared",  # same variation +/-: error
    # --- negative script tags
    "get,compiler,-llvm",
    "get,compiler,-gcc,-llvm",
    "get,-get",  # same tag +/-: error
    "get,python3,-python3",
    # --- unknown / odd tags
    "get,pythonn",
    "GET,PYTHON3",  # tags are case-sensitive
    "get,get,python3",  # duplicate tag
    " get , python3 ",  # whitespace around tags
    # --- corpus has duplicate UIDs: index ON hides the 2nd script
    "get,dataset,igbh",
    "run,natively,all,mlperf-models",
    "run,natively,all,mlperf-models,_phoenix",
    # --- everything (shows CM's global ordering)
    "",
]


def scrubbed_env(cm_repos, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_")}
    env["CM_REPOS"] = cm_repos
    env["CM_CORE_SKIP_INTERNAL_REPOS"] = "yes"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run(cmd, env, cwd):
    p = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return p.returncode, p.stdout, p.stderr


def parse_find_output(rc, out, err, script_roots):
    aliases = []
    other = []
    for line in out.splitlines():
        s = line.strip()
        if not s:
            continue
        if os.path.dirname(s.rstrip("/\\")) in script_roots:
            aliases.append(os.path.basename(s.rstrip("/\\")))
        else:
            other.append(s)
    err_text = err.strip()
    extra_parts = [x for x in ("\n".join(other), err_text) if x]
    extra = "\n".join(extra_parts) if extra_parts else None
    error = None
    if rc != 0:
        error = extra if extra else ""
    return {"returncode": rc, "aliases": aliases, "error": error, "extra_output": extra}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cm", required=True, help="path to the `cm` executable")
    ap.add_argument("--corpus", required=True, help="unpacked cmx4mlops dir (contains cmr.yaml)")
    ap.add_argument(
        "--corpus-label", default=None, help="label for the corpus (default: cmx4mlops==<VERSION>)"
    )
    ap.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "cm_find_golden.json"),
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary CM home / corpus copy")
    args = ap.parse_args()

    cm = os.path.abspath(args.cm)
    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(os.path.join(corpus, "cmr.yaml")):
        sys.exit(f"no cmr.yaml in corpus path {corpus}")

    label = args.corpus_label
    if label is None:
        vfile = os.path.join(corpus, "VERSION")
        version = open(vfile).read().strip() if os.path.isfile(vfile) else "?"
        label = "cmx4mlops==" + version

    with golden_runs.temp_dir("cm_find_golden_", args.keep) as tmp:
        corpus_copy = os.path.join(tmp, "cmx4mlops")
        shutil.copytree(corpus, corpus_copy, symlinks=True)
        cm_repos = os.path.join(tmp, "cmhome")
        env = scrubbed_env(cm_repos)
        env_noindex = scrubbed_env(cm_repos, {"CM_INDEX": "no"})

        script_roots = set()
        for base in (corpus_copy, os.path.realpath(corpus_copy)):
            script_roots.add(os.path.join(base, "repo", "script"))

        setup = []

        def step(cmd, e=env):
            rc, out, err = run(cmd, e, tmp)
            shown = [os.path.basename(cmd[0])] + [c.replace(tmp, "<tmp>") for c in cmd[1:]]
            setup.append({"cmd": " ".join(shown), "returncode": rc})
            if rc != 0:
                sys.exit(f"setup command failed ({rc}): {cmd}\n{out}\n{err}")
            return out

        step([cm, "import", "repo", "--path=" + corpus_copy])
        version_out = step([cm, "version"])
        cmind_version = [line.strip() for line in version_out.splitlines() if line.strip()][-1]
        repos_out = step([cm, "find", "repo"])

        # Sanity check: detect,os must be the corpus detect-os
        rc, out, err = run([cm, "find", "script", "--tags=detect,os"], env, tmp)
        chk = parse_find_output(rc, out, err, script_roots)
        if chk["aliases"] != ["detect-os"] or chk["extra_output"]:
            sys.exit(f"sanity check failed: {chk!r}")

        cases = []
        for tags in CASES:
            cmd = [cm, "find", "script", "--tags=" + tags]
            on = parse_find_output(*run(cmd, env, tmp), script_roots=script_roots)
            off = parse_find_output(*run(cmd, env_noindex, tmp), script_roots=script_roots)
            case = {"tags": tags}
            case.update(on)
            case["index_off"] = off
            cases.append(case)
            differs = "" if off == on else f"  (index_off differs: n={len(off['aliases'])})"
            print(
                f"{tags!r:<45} rc={on['returncode']} n={len(on['aliases'])}{differs}",
                file=sys.stderr,
            )

        doc = {
            "cmind_version": cmind_version,
            "corpus": label,
            "produced_by": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
            "cm_command": "cm find script --tags=<tags>",
            "environment": {
                "CM_REPOS": "<tmp>/cmhome (fresh)",
                "CM_CORE_SKIP_INTERNAL_REPOS": "yes",
                "CM_INDEX": "unset (index on) for the main fields; 'no' for index_off",
                "other CM_* variables": "removed",
            },
            "setup_commands": setup,
            "registered_repos": [
                line.split(" = ")[0] for line in repos_out.splitlines() if " = " in line
            ],
            "notes": [
                "aliases = script directory names in the order CM printed them",
                "error is null when returncode == 0, else CM's stderr text",
                "index_off = same command with CM_INDEX=no (directory scan)",
                "find drops variation tags (_x / -_x) from the tag search and "
                "then keeps only scripts whose meta 'variations' has key x "
                "(or a 'prefix.#' key with x starting with 'prefix.' and not "
                "ending in '.'); -_x is NOT an exclusion in find, it is "
                "filtered exactly like _x",
                "x in both included and excluded lists (tags or variations) "
                "-> returncode 1; no match -> returncode 0 and no output",
            ],
            "cases": cases,
        }
        golden_runs.write_json(args.out, doc)
        print(f"wrote {args.out} ({len(cases)} cases, cmind {cmind_version})", file=sys.stderr)


if __name__ == "__main__":
    main()
