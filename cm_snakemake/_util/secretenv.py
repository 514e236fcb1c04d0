"""Secrets in the env: keys named like ``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``GH_TOKEN``.

Their values reach the scripts that need them (through the process environment, never
written into ``tmp-run.sh``) and are never written to disk or printed by cm-snakemake:

* cache records, node result files and ``--json`` output leave them out and list their
  names under ``secret_keys``; a later reader takes the value from its own environment
  (:func:`restore`), so a token exported by a script reaches a dependent job only when that
  job's environment has it;
* plan files keep a short digest in place of each secret the user gave (``--env.*``, a
  secret-named input such as ``--hf_token``, or a value from the process environment), so a
  changed secret still changes the plan; the job reads the value from its environment and
  checks it against the digest (:func:`reveal`). :func:`given` collects the secrets of a
  request's inputs; ``cm.target(..., env=...)`` and ``run --jobs`` put them into the
  environment of the jobs they start, under their own name and as ``CMSM_SECRET_<digest>``
  (so that two targets with different values for one key do not collide);
* request keys remembered in the index hold the digest, not the value.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..errors import CMSnakemakeError

__all__ = ["conceal", "digest", "given", "is_secret", "restore", "reveal", "split", "strip"]

HIDDEN = "<secret, not shown>"

_SUFFIXES = ("_TOKEN", "_PASSWORD", "_PASSWD", "_SECRET", "_API_KEY", "_SECRET_KEY")
_NAMES = frozenset({"GH_TOKEN", "TOKEN", "PASSWORD", "SECRET"})
MARK = "$secret"


def is_secret(key: object) -> bool:
    """Whether an env key names a secret (case does not matter; ``+`` list keys never do)."""
    if not isinstance(key, str) or key.startswith("+"):
        return False
    upper = key.upper()
    return upper in _NAMES or upper.endswith(_SUFFIXES)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def split(env: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``env`` without its secrets (text values), and the secrets."""
    secret = {k: v for k, v in env.items() if is_secret(k) and isinstance(v, str)}
    return {k: v for k, v in env.items() if k not in secret}, secret


def strip(record: dict[str, Any], key: str = "new_env") -> dict[str, Any]:
    """A copy of ``record`` whose ``record[key]`` has no secrets; their names are listed
    under ``secret_keys``."""
    env = record.get(key)
    if not isinstance(env, dict):
        return record
    public, secret = split(env)
    if not secret:
        return record
    names = set(record.get("secret_keys", [])) | set(secret)
    return {**record, key: public, "secret_keys": sorted(names)}


def restore(env: dict[str, Any], names: Any, environ: Any = None) -> dict[str, Any]:
    """``env`` with the secrets named in ``names`` taken from ``environ`` (the process
    environment), where it has them."""
    source = os.environ if environ is None else environ
    for name in names if isinstance(names, list) else []:
        if isinstance(name, str) and name in source:
            env[name] = source[name]
    return env


_GIVEN: set[str] = set()  # secret values given to this process's requests


def given(inputs: Any) -> dict[str, str]:
    """The secrets in a request's inputs (any nesting), as environment entries for its jobs:
    each under its own name and under ``CMSM_SECRET_<digest>``. They are remembered, so that
    plan files written by this process conceal them wherever they end up."""
    found: dict[str, str] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if is_secret(k) and isinstance(v, str) and v:
                    found[k] = v
                    found[f"CMSM_SECRET_{digest(v)}"] = v
                else:
                    walk(v)

    walk(inputs)
    _GIVEN.update(found.values())
    return found


def _hidden(key: object, value: object, only_given: bool) -> bool:
    if not (is_secret(key) and isinstance(value, str) and value):
        return False
    return not only_given or value in _GIVEN or value == os.environ.get(str(key))


def conceal(value: Any, *, only_given: bool = False) -> Any:
    """``value`` (nested dicts and lists) with every secret's text replaced by its digest;
    with ``only_given``, only the secrets the user gave (:func:`given`, or the process
    environment): secret-named values from a script's meta are not secrets of the user's."""
    if isinstance(value, dict):
        return {k: ({MARK: digest(v)} if _hidden(k, v, only_given)
                    else conceal(v, only_given=only_given))
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [conceal(v, only_given=only_given) for v in value]
    return value


def reveal(value: Any, environ: Any = None) -> Any:
    """Undo :func:`conceal` from the process environment; a secret that is missing there, or
    differs from the one planned, is an error naming it."""
    source = os.environ if environ is None else environ
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, dict) and set(v) == {MARK}:
                found = source.get(k)
                if found is None or digest(found) != v[MARK]:
                    found = source.get(f"CMSM_SECRET_{v[MARK]}", found)
                if found is None or digest(found) != v[MARK]:
                    state = "is not set" if found is None else "differs from the planned one"
                    raise CMSnakemakeError(
                        f"the secret {k} {state} in this job's environment",
                        hint=f"Secrets are not written to plan files: export {k} (the same "
                             "value as when the workflow was planned) in the environment of "
                             "the Snakemake run.",
                    )  # fmt: skip
                out[k] = found
            else:
                out[k] = reveal(v, source)
        return out
    if isinstance(value, list):
        return [reveal(v, source) for v in value]
    return value
