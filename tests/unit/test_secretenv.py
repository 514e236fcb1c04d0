"""Which keys are secrets, and how plan files and records hide them."""

from __future__ import annotations

import pytest

from cm_snakemake._util.secretenv import conceal, digest, given, is_secret, restore, reveal, strip
from cm_snakemake.errors import CMSnakemakeError


def test_secret_names() -> None:
    for name in ("GH_TOKEN", "CM_HF_TOKEN", "hf_token", "DB_PASSWORD", "AWS_SECRET", "X_API_KEY"):
        assert is_secret(name), name
    for name in ("CM_TOKENIZER", "PATH", "+CM_TOKEN", "CM_SECRETS_DIR", "", 3):
        assert not is_secret(name), name


def test_plan_files_hide_what_the_user_gave_and_jobs_get_it_back() -> None:
    secrets = given({"hf_token": "tok-1", "env": {"CM_GH_TOKEN": "tok-2"}, "x": "plain"})
    assert secrets["hf_token"] == "tok-1" and secrets["CM_GH_TOKEN"] == "tok-2"
    assert secrets[f"CMSM_SECRET_{digest('tok-1')}"] == "tok-1"
    node = {"env": {"CM_HF_TOKEN": "tok-1", "CM_META_TOKEN": "from-meta", "CM_X": "1"},
            "deps": [{"env": {"CM_GH_TOKEN": "tok-2"}}]}  # fmt: skip
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
