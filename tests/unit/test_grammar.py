"""CM's command-line grammar (docs/cm-behaviour.md §2.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm_snakemake.cli.grammar import Args, parse_args
from cm_snakemake.cli.options import BOOL, TEXT, Flag, Kind, Options
from cm_snakemake.errors import UsageError


def test_values_flags_and_negation() -> None:
    args = parse_args(
        ["run", "script", "--tags=get,python3", "--quiet", "--skip-cache-", "--version_min=3.9"]
    )
    assert args.positional == ["run", "script"]
    assert args.flags == {
        "tags": "get,python3",
        "quiet": True,
        "skip_cache": False,
        "version_min": "3.9",
    }


def test_dotted_keys_nest() -> None:
    args = parse_args(
        [
            "--env.CM_X=1",
            "--env.CM_Y=a=b",
            "--adr.python.version_min=3.9",
            "--adr.python.tags=_shared",
            "--const.CM_Z",
        ]
    )
    assert args.flags == {
        "env": {"CM_X": "1", "CM_Y": "a=b"},
        "adr": {"python": {"version_min": "3.9", "tags": "_shared"}},
        "const": {"CM_Z": True},
    }


def test_comma_lists() -> None:
    assert parse_args(["--list,=a,b,c"]).flags == {"list": ["a", "b", "c"]}


def test_input_files_merge(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps({"env": {"A": "1"}, "quiet": True}))
    (tmp_path / "in.yaml").write_text("tags: detect,os\n")
    args = parse_args([f"@{tmp_path / 'in.json'}", f"@{tmp_path / 'in.yaml'}", "--x=1"])
    assert args.flags == {"env": {"A": "1"}, "quiet": True, "tags": "detect,os", "x": "1"}


def test_bad_input_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        parse_args(["@nope.json"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,}')
    with pytest.raises(UsageError, match=r"bad\.json:1: broken JSON"):
        parse_args([f"@{bad}"])
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        parse_args([f"@{listy}"])


def test_rest_after_double_dash() -> None:
    args = parse_args(["run", "--", "--not-a-flag", "x"])
    assert args.rest == ["--not-a-flag", "x"]
    assert args.flags == {}


@pytest.mark.parametrize("arg", ["--", "--=1", "--.x=1", "--a..b=1", "-j"])
def test_malformed(arg: str) -> None:
    if arg == "--":
        assert parse_args([arg]).rest == []
        return
    with pytest.raises(UsageError):
        parse_args([arg])


class _TagsAndJson(Options):
    tags = Flag(TEXT, None, "tags")
    json = Flag(BOOL, False, "json")


def test_unconsumed_flags_are_reported_with_suggestions() -> None:
    args = parse_args(["--tagz=get", "--json", "--frobnicate"])
    with pytest.raises(UsageError) as info:
        _TagsAndJson.parse(args)
    text = str(info.value)
    assert "--tagz (did you mean --tags?)" in text
    assert "--frobnicate" in text
    assert "--json" not in text


def test_conflicting_nesting() -> None:
    with pytest.raises(UsageError, match="already given a value"):
        parse_args(["--env=1", "--env.X=2"])


def test_a_word_after_a_bare_flag_is_remembered() -> None:
    """CM reads ``--jobs 2`` as ``--jobs`` (true) and a word ``2``; the word is remembered, so
    that a flag that needs a value can say ``write --jobs=2``."""
    args = parse_args(["run", "--jobs", "2", "--json", "--env.X", "y", "--out=f", "z", "--q-", "w"])
    assert args.flags == {"jobs": True, "json": True, "env": {"X": True}, "out": "f", "q": False}
    assert args.positional == ["run", "2", "y", "z", "w"]
    assert args.followers == {"jobs": "2", "env.X": "y"}


def _read(kind: Kind[object], key: str, args: Args) -> object:
    return Flag(kind, None, "").named(key).read(args)


def test_yes_no_and_text_flags_follow_the_option_rules() -> None:
    args = parse_args(["--a=no", "--b-", "--c=On", "--d,=x,y", "--e", "2"])
    assert [_read(BOOL, k, args) for k in "abc"] == [False, False, True]
    assert _read(TEXT, "d", args) == "x,y"
    with pytest.raises(UsageError, match="--e needs a value: write --e=2"):
        _read(TEXT, "e", args)
