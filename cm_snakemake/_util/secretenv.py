"""Secrets in the env: keys named like ``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``*_API_KEY``,
``*_CREDENTIALS``, ... (:func:`is_secret` has the rules and their sources).

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

On the command line's start-up path: nothing heavier than ``os`` at import (no ``re``,
``typing`` or ``hashlib``; see "A lean start-up path" in docs/architecture.md).
"""

from __future__ import annotations

import os

from ..errors import CMSnakemakeError
from .settings import secret_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["conceal", "digest", "given", "is_secret", "restore", "reveal", "split", "strip"]

HIDDEN = "<secret, not shown>"
MARK = "$secret"

# Secret names, as words: a key is split into words at "_", "-" and "." (case does not
# matter), so that COMPASS, BYPASS_CACHE, CM_TOKENIZER or CM_PATH hold no secret word. The
# words come from what secret scanners and scrubbers treat as secret variable names:
#   [gitleaks]  rule generic-api-key (config/gitleaks.toml): keywords access, api, auth, key,
#               credential, creds, passwd, password, secret, token; earlier versions also pat
#               and client (cmd/generate/config/rules/generic.go);
#   [detect-secrets]  KeywordDetector's DENYLIST (detect_secrets/plugins/keyword.py): apikey,
#               api_key, appkey, app_key, authkey, auth_key, servicekey, service_key,
#               applicationkey, application_key, accountkey, account_key, dbkey, db_key,
#               databasekey, database_key, clientkey, client_key, aws_secret_access_key,
#               db_pass, password, passwd, pass, pwd, private_key, privatekey, priv_key,
#               privkey, secret, keypass, token;
#   [sentry]    sentry_sdk's scrubber DEFAULT_DENYLIST (from Relay): password, passwd, secret,
#               api_key, apikey, auth, credentials, mysql_pwd, privatekey, private_key, token,
#               authorization;
#   [spring]    Spring Boot's actuator Sanitizer: keys ending in password, secret, key, token,
#               or matching .*credentials.*;
#   [ci]        GitHub Actions and GitLab CI mask secrets by value, not by name; their own
#               secret variables are GITHUB_TOKEN, ACTIONS_RUNTIME_TOKEN, CI_JOB_TOKEN,
#               CI_REGISTRY_PASSWORD, CI_DEPLOY_PASSWORD, CI_JOB_JWT, CI_JOB_JWT_V2;
#   [trufflehog] its detectors match values (their keywords are service names and value
#               prefixes): no name pattern comes from it.
# Words that the scanners flag only next to a high-entropy value are narrowed here, since a
# name is all we have: a bare KEY (CM_GIT_ENV_KEY, CMSM_PYTHON_KEY), AUTH (CM_GIT_AUTH: 'yes'
# in the corpus), ACCESS and CLIENT are not secrets unless they qualify KEY (below).

# Secret wherever it stands in the name, unless a later word says that the key names
# something about the secret (_ABOUT): DB_PASSWORD_PROD, SECRET_KEY_BASE, but PASSWORD_FILE.
# GOOGLE_APPLICATION_CREDENTIALS, a path by convention, is a secret all the same: the name
# cannot tell, and hiding a path costs less than showing a key.
_ANYWHERE = frozenset({
    "SECRET",  # [gitleaks] [detect-secrets] [sentry] [spring]
    "PASSWORD", "PASSWD",  # [gitleaks] [detect-secrets] [sentry] [spring] [ci]
    "PASSPHRASE",  # the password of a key (GPG_PASSPHRASE); our addition
    "CREDENTIAL", "CREDENTIALS",  # [gitleaks] [sentry] [spring]
    "APIKEY", "APPKEY", "AUTHKEY", "SERVICEKEY", "APPLICATIONKEY", "ACCOUNTKEY", "DBKEY",
    "DATABASEKEY", "CLIENTKEY", "PRIVATEKEY", "PRIVKEY", "SECRETKEY",  # [detect-secrets]
})  # fmt: skip
# <word>_KEY is a secret for these words, wherever it stands (as _ANYWHERE): API_KEY,
# AWS_SECRET_ACCESS_KEY, SSH_PRIVATE_KEY; a bare KEY is not (CM's ENV_KEY, AXIS_KEY_X).
_KEY_OF = frozenset({
    "API", "APP", "AUTH", "SERVICE", "APPLICATION", "ACCOUNT", "DB", "DATABASE", "CLIENT",
    "PRIVATE", "PRIV",  # [detect-secrets]
    "SECRET", "ACCESS",  # [detect-secrets] aws_secret_access_key, [gitleaks] access + key
})  # fmt: skip
# Secret only as the last word (a version such as _2 or _V2 may follow): weaker words, which
# also begin names that are not secrets (CM_TOKEN_LEN, CM_DOCKER_PASS_USER_ID).
_LAST = frozenset({
    "TOKEN",  # [gitleaks] [detect-secrets] [sentry] [spring] [ci]
    "SECRETS", "PASSWORDS",  # plurals of the above
    "PASS", "PWD", "KEYPASS",  # [detect-secrets] db_pass, pwd, keypass; [sentry] mysql_pwd
    "CREDS",  # [gitleaks]
    "PAT",  # [gitleaks] pat: a personal access token (GH_PAT, AZURE_DEVOPS_EXT_PAT)
    "JWT",  # [ci] CI_JOB_JWT
    "AUTHORIZATION",  # [sentry] (HTTP_AUTHORIZATION: the header, with its credentials)
})  # fmt: skip
# Short words that are a secret only after another word: PWD alone is the working directory.
_NOT_ALONE = frozenset({"PWD", "PAT", "PASS"})
# Later words that make the key a fact about a secret, not the secret: where it is (a path
# is kept in records, so that later jobs find the file), its name, length or presence.
_ABOUT = frozenset({
    "PATH", "PATHS", "FILE", "FILES", "FILENAME", "FILEPATH", "DIR", "DIRS", "DIRECTORY",
    "FOLDER", "NAME", "NAMES", "ID", "IDS", "KEYS", "LEN", "LENGTH", "SIZE", "COUNT", "TYPE",
    "KIND", "MODE", "FORMAT", "ENV", "VAR", "VARS", "VERSION", "HELPER", "PROVIDER", "STORE",
    "MANAGER", "EXISTS", "SET", "REQUIRED", "ENABLED", "PROMPT",
})  # fmt: skip
# A word just before the secret's word that makes the key a flag: ALLOW_CREDENTIALS (a vLLM
# server option in the corpus), WITHOUT_PASSWORD, NO_PASSWORD, SKIP_TOKEN.
_FLAG = frozenset({"ALLOW", "ENABLE", "DISABLE", "NO", "SKIP", "USE", "REQUIRE", "WITHOUT",
                   "IGNORE"})  # fmt: skip
# Words anywhere before TOKEN that make it a model's token, not a credential: CM_EOS_TOKEN,
# CM_VLLM_SERVER_MAX_PROMPT_ADAPTER_TOKEN.
_MODEL_TOKEN = frozenset({"MAX", "MIN", "NUM", "EOS", "BOS", "PAD", "UNK", "SEP", "CLS", "MASK"})

_SECRET_CACHE: dict[str, bool] = {}


def is_secret(key: object) -> bool:
    """Whether an env key names a secret (case does not matter; ``+`` list keys never do).

    The key's words (split at ``_``, ``-``, ``.``) hold a secret's word or ``<word>_KEY``
    (see the tables above for the words and where they come from): anywhere for strong words
    unless a later word makes it a fact about the secret (``*_PATH``, ``*_FILE``, ``*_LEN``,
    ``*_ID``, ...), last for weak ones (``*_TOKEN``, ``*_PASS``, ``*_PAT``); never just after
    a flag word (``ALLOW_CREDENTIALS``), and ``TOKEN`` never after a model's word
    (``MAX_..._TOKEN``, ``EOS_TOKEN``).
    """
    if not isinstance(key, str) or key.startswith("+"):
        return False
    found = _SECRET_CACHE.get(key)
    if found is None:
        found = _names_secret(key)
        if len(_SECRET_CACHE) < 10_000:
            _SECRET_CACHE[key] = found
    return found


def _is_version(word: str) -> bool:
    return word.isdigit() or (word[:1] == "V" and word[1:].isdigit())


def _names_secret(key: str) -> bool:
    words = [w for w in key.upper().replace("-", "_").replace(".", "_").split("_") if w]
    end = len(words)
    while end > 1 and _is_version(words[end - 1]):
        end -= 1  # HF_TOKEN_2, CI_JOB_JWT_V2
    for i in range(end):
        word = words[i]
        if word == "KEY" and i > 0 and words[i - 1] in _KEY_OF:
            start, strong = i - 1, True
        elif word in _ANYWHERE:
            start, strong = i, True
        elif word in _LAST and i == end - 1:
            start, strong = i, False
        else:
            continue
        if strong and any(w in _ABOUT for w in words[i + 1 : end]):
            continue
        if start > 0 and words[start - 1] in _FLAG:
            continue
        if start == 0 and word in _NOT_ALONE:
            continue
        if word == "TOKEN" and any(w in _MODEL_TOKEN for w in words[:start]):
            continue
        return True
    return False


def digest(value: str) -> str:
    import hashlib  # not at import: the start-up path rarely needs it

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
                    found[secret_name(digest(v))] = v
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
        return {
            k: (
                {MARK: digest(v)}
                if _hidden(k, v, only_given)
                else conceal(v, only_given=only_given)
            )
            for k, v in value.items()
        }
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
                    found = source.get(secret_name(v[MARK]), found)
                if found is None or digest(found) != v[MARK]:
                    state = "is not set" if found is None else "differs from the planned one"
                    raise CMSnakemakeError(
                        f"the secret {k} {state} in this job's environment",
                        hint=f"Secrets are not written to plan files: export {k} (the same "
                        "value as when the workflow was planned) in the environment of "
                        "the Snakemake run.",
                    )
                out[k] = found
            else:
                out[k] = reveal(v, source)
        return out
    if isinstance(value, list):
        return [reveal(v, source) for v in value]
    return value
