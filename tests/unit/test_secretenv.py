"""Which keys are secrets, and how plan files and records hide them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cm_snakemake._util.secretenv import conceal, digest, given, is_secret, restore, reveal, strip
from cm_snakemake.errors import CMSnakemakeError


def test_secret_names() -> None:
    for name in ("GH_TOKEN", "CM_HF_TOKEN", "hf_token", "DB_PASSWORD", "AWS_SECRET", "X_API_KEY"):
        assert is_secret(name), name
    for name in ("CM_TOKENIZER", "PATH", "+CM_TOKEN", "CM_SECRETS_DIR", "", 3):
        assert not is_secret(name), name


# One parameter set per family of secret names (see the sources in secretenv.py); each
# name in lower case too, and with a version suffix where that makes sense.
FAMILIES = {
    "token": ["TOKEN", "GH_TOKEN", "GITHUB_TOKEN", "CI_JOB_TOKEN", "AWS_SESSION_TOKEN",
              "CM_GH_AUTH_TOKEN", "with_token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "HF_TOKEN_2"],
    "password": ["PASSWORD", "DB_PASSWORD", "CM_SSH_PASSWORD", "CI_REGISTRY_PASSWORD",
                 "MYSQL_ROOT_PASSWD", "DB_PASSWORD_PROD", "password_string", "SMTP_PASSWORDS",
                 "GPG_PASSPHRASE"],
    "pass and pwd": ["DB_PASS", "SMTP_PASS", "KEYPASS", "MYSQL_PWD", "DB_PWD"],
    "secret": ["SECRET", "AWS_SECRET", "CLIENT_SECRET", "CM_APP_SECRET", "SECRET_KEY_BASE",
               "AZURE_CLIENT_SECRET_VALUE", "VAULT_SECRETS", "dataset_path_secret"],
    "keys": ["X_API_KEY", "CM_VLLM_SERVER_API_KEY", "APIKEY", "OPENAI_APIKEY", "SECRET_KEY",
             "TF_VAR_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "secret_access_key",
             "TF_VAR_ACCESS_KEY", "SSH_PRIVATE_KEY", "DEPLOY_PRIV_KEY", "GPG_PRIVKEY",
             "SIGNING_PRIVATEKEY", "STRIPE_APP_KEY", "AUTH_KEY", "AZURE_STORAGE_ACCOUNT_KEY",
             "SERVICE_KEY", "APPLICATION_KEY", "DB_KEY", "DATABASE_KEY", "CLIENT_KEY", "API_KEY_V2",
             "SSH_PRIVATE_KEY_B64"],
    "credentials": ["AWS_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "DOCKER_CREDENTIAL",
                    "REGISTRY_CREDS", "GCP_CREDENTIALS_JSON"],
    "personal access tokens and jwts": ["CM_GITHUB_PAT", "GH_PAT", "AZURE_DEVOPS_EXT_PAT",
                                        "CI_JOB_JWT", "CI_JOB_JWT_V2"],
    "authorization": ["HTTP_AUTHORIZATION", "PROXY_AUTHORIZATION"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("family", "name"), [(f, n) for f, names in FAMILIES.items() for n in names]
)
def test_common_secret_names_are_secrets(family: str, name: str) -> None:
    for spelling in (name, name.lower(), name.replace("_", "-")):
        assert is_secret(spelling), (family, spelling)


# Names that hold no secret although they contain a secret's word: other words (word
# boundaries are "_", "-" and "."), a path or other fact about a secret, a flag or count,
# LLM tokens, CM's own key lists. From CM, MLC and the cmx4mlops corpus, among others.
NOT_SECRETS = {
    "other words": ["CM_PATH", "COMPASS", "BYPASS_CACHE", "CM_BYPASS", "PASSTHROUGH",
                    "CM_DOCKER_PASSTHROUGH", "MLC_DOCKER_PASS_USER_ID",
                    "CM_DOCKER_PASS_USER_GROUP", "pass_user_id", "CM_TOKENIZER",
                    "MLC_ML_MODEL_TOKENIZER", "CM_SECRETARY",
                    "CM_KEYBOARD", "CM_MONKEY", "CM_PATTERN", "CM_PATCH", "CM_DISPATCH",
                    "CM_PATH_PAT_NAME", "CM_GOOGLE_AUTH_OAUTHLIB_VERSION", "CM_GIT_AUTH",
                    "CM_AUTHOR", "OAUTH_SCOPE", "CM_JWTLIB_VERSION", "PWD", "OLDPWD", "PAT",
                    "PASS", "CM_PASSES", "CM_TOKENS", "CM_SECRETS_DIR", "CREDSTASH_VERSION"],
    "generic keys": ["CM_GIT_ENV_KEY", "CM_TMP_ENV_KEY", "CM_MODEL_ZOO_ENV_KEY",
                     "CMSM_PYTHON_KEY", "CM_GUI_GRAPH_EXPERIMENT_AXIS_KEY_X",
                     "CM_DATASET_MLCOMMONS_COGNATA_KEY1", "accuracy_key", "dataset_key",
                     "CM_SSH_KEY_FILE", "TF_VAR_SSH_PUB_KEY_FILE", "PUBLIC_KEY", "SORT_KEY",
                     "CM_CACHE_KEY"],
    "key lists": ["new_env_keys", "force_env_keys", "CM_PRINT_ANY_CM_ENV_KEYS",
                  "MLC_PRINT_ANY_OS_ENV_KEYS", "local_env_keys", "secret_keys",
                  "CM_API_KEYS_FILE"],
    "facts about a secret": ["CM_GH_TOKEN_PATH", "CM_SSH_KEY_PATH", "CM_API_KEY_PATH",
                             "CM_PRIVATE_KEY_FILE", "PASSWORD_FILE", "CM_SECRET_DIR",
                             "CM_GCP_CREDENTIALS_JSON_PATH", "AWS_ACCESS_KEY_ID",
                             "access_key_id", "CM_TOKEN_LEN", "CM_PASSWORD_LEN",
                             "CM_HF_TOKEN_NAME", "CM_SECRET_ENV_KEY", "GIT_CREDENTIAL_HELPER",
                             "PASSWORD_STORE_DIR", "CM_PASSWORD_EXISTS", "CM_SECRET_NAMES"],
    "flags and counts": ["CM_VLLM_SERVER_ALLOW_CREDENTIALS", "allow_credentials",
                         "can_execute_sudo_without_password", "CM_NO_PASSWORD",
                         "CM_SKIP_TOKEN", "CM_VLLM_SERVER_MAX_PROMPT_ADAPTER_TOKEN",
                         "max_prompt_adapter_token", "CM_EOS_TOKEN", "CM_PAD_TOKEN",
                         "CM_BOS_TOKEN", "MLC_MAX_NUM_TOKEN"],
    "common CM and MLC keys": ["MLC_TMP_PATH", "CM_TMP_PATH", "CM_GIT_CHECKOUT",
                               "CM_GIT_CHECKOUT_PATH", "CM_GIT_URL", "MLC_GIT_CHECKOUT",
                               "CM_TMP_CURRENT_SCRIPT_PATH", "CM_HOST_OS_TYPE",
                               "CM_MLPERF_LOADGEN_SCENARIO", "CM_DOWNLOAD_CHECKSUM",
                               "CM_QUIET", "MLC_QUIET", "CM_REPO_PATH", "+PATH",
                               "+LD_LIBRARY_PATH", "+CM_HOST_OS_DEFAULT_INCLUDE_PATH"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("why", "name"), [(w, n) for w, names in NOT_SECRETS.items() for n in names]
)
def test_names_that_only_look_like_secrets_are_not(why: str, name: str) -> None:
    for spelling in (name, name.lower()):
        assert not is_secret(spelling), (why, spelling)


def test_no_key_of_the_bundled_scripts_is_a_secret() -> None:
    """Every name in the bundled repository (env keys, inputs, variables) stays public: their
    records keep them, and later jobs read them from the records."""
    root = Path(__file__).resolve().parents[2] / "cm_snakemake" / "repo"
    names = set()
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".yaml", ".json", ".sh", ".py"}:
            text = path.read_text(encoding="utf-8")
            names |= set(re.findall(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b", text))
    assert len(names) > 100 and "CM_HOST_OS_TYPE" in names
    assert sorted(n for n in names if is_secret(n)) == []


def test_the_module_stays_cheap_to_import() -> None:
    """On the command line's start-up path: no ``re``, ``typing`` or ``hashlib`` at import."""
    code = (
        "import sys; before = set(sys.modules); import cm_snakemake._util.secretenv as s; "
        "s.is_secret('GH_TOKEN'); print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    loaded = eval(out)  # a list of module names
    assert not {"re", "typing", "hashlib"} & set(loaded), loaded


def test_plan_files_hide_what_the_user_gave_and_jobs_get_it_back() -> None:
    secrets = given({"hf_token": "tok-1", "env": {"CM_GH_TOKEN": "tok-2"}, "x": "plain"})
    assert secrets["hf_token"] == "tok-1" and secrets["CM_GH_TOKEN"] == "tok-2"
    assert secrets[f"CMSM_SECRET_{digest('tok-1')}"] == "tok-1"
    node = {
        "env": {"CM_HF_TOKEN": "tok-1", "CM_META_TOKEN": "from-meta", "CM_X": "1"},
        "deps": [{"env": {"CM_GH_TOKEN": "tok-2"}}],
    }
    hidden = conceal(node, only_given=True)
    text = repr(hidden)
    assert "tok-1" not in text and "tok-2" not in text
    assert hidden["env"]["CM_META_TOKEN"] == "from-meta"  # a meta's value: not the user's
    # the job's environment has the given secrets (under CMSM_SECRET_<digest> at least)
    assert reveal(hidden, environ=secrets) == node
    with pytest.raises(CMSnakemakeError, match="the secret CM_HF_TOKEN is not set"):
        reveal(hidden, environ={})
    with pytest.raises(CMSnakemakeError, match="differs from the planned one"):
        reveal({"CM_GH_TOKEN": {"$secret": digest("tok-2")}}, environ={"CM_GH_TOKEN": "other"})


def test_records_name_secrets_and_readers_take_them_from_their_environment() -> None:
    record = strip({"new_env": {"CM_GH_TOKEN": "tok", "CM_A": "1"}})
    assert record == {"new_env": {"CM_A": "1"}, "secret_keys": ["CM_GH_TOKEN"]}
    env = restore(dict(record["new_env"]), record["secret_keys"], {"CM_GH_TOKEN": "tok"})
    assert env == {"CM_A": "1", "CM_GH_TOKEN": "tok"}
    assert restore({"CM_A": "1"}, ["CM_GH_TOKEN"], {}) == {"CM_A": "1"}


@pytest.mark.corpus
def test_the_secrets_named_in_the_corpus_metas(corpus: Path) -> None:
    """Of the ~4,600 names in cmx4mlops' metas (env keys, inputs, variations, ...), exactly
    these are secrets: CM_GIT_AUTH ('yes'), CM_VLLM_SERVER_ALLOW_CREDENTIALS (a flag),
    CM_DOCKER_PASS_USER_ID, CM_GCP_CREDENTIALS_JSON_PATH and the rest stay public."""
    import json

    import yaml

    names: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            names.update(k for k in value if isinstance(k, str))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value.replace("_", "").isalnum():
            names.add(value)

    for path in corpus.rglob("_cm.*"):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".yaml":
            walk(yaml.safe_load(text))
        elif path.suffix == ".json":
            walk(json.loads(text))
    assert len(names) > 4000 and "CM_GIT_AUTH" in names
    assert sorted(n for n in names if is_secret(n)) == [
        "CM_GH_ACTIONS_RUNNER_TOKEN",
        "CM_GH_AUTH_TOKEN",
        "CM_GH_TOKEN",
        "CM_HF_TOKEN",
        "CM_SSH_PASSWORD",
        "CM_VLLM_SERVER_API_KEY",
        "_password_hash",
        "api_key",
        "gh_token",
        "password",
        "token",
        "with-token",
        "with_token",
    ]
