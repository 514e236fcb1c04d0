"""The ``cmind.utils`` helpers that real ``customize.py`` files call.

Expected values were observed with CM 4.2.0 (``cmind.utils``) on the same inputs; the tests
marked "deviation" cover the places where cm-snakemake answers instead of crashing.
"""

from __future__ import annotations

import datetime
import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.runtime.compat import utils
from cm_snakemake.runtime.compat.utils import UnsupportedHelper

if TYPE_CHECKING:
    from pathlib import Path

#: Every ``cmind.utils`` helper the cmx4mlops 1.0.1 scripts call.
CORPUS_HELPERS = [
    "check_if_true_yes_on",
    "debug_here",
    "gen_uid",
    "get_current_date_time",
    "load_json",
    "load_json_or_yaml",
    "load_txt",
    "load_yaml_and_json",
    "merge_dicts",
    "safe_load_json",
    "save_json",
    "save_txt",
]

TEXT = "line1\r\nline2\nversion 1.2.3\n"
READ = "line1\nline2\nversion 1.2.3\n"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path: scripts read ``tmp-run.out`` relative to the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- load_txt / save_txt ---------------------------------------------------------------------


def test_load_txt_reads_with_universal_newlines(cwd: Path) -> None:
    (cwd / "a.txt").write_bytes(TEXT.encode())
    assert utils.load_txt("a.txt") == {"return": 0, "string": READ}
    assert utils.load_txt(file_name="a.txt", check_if_exists=True, split=True) == {
        "return": 0,
        "string": READ,
        "list": ["line1", "line2", "version 1.2.3", ""],
    }
    # positional parameters follow cmind's order: encoding, remove_after_read, check, split
    assert utils.load_txt("a.txt", "utf8", False, True, True)["list"][-2:] == ["version 1.2.3", ""]


@pytest.mark.parametrize(
    ("content", "lines"), [("x\ny", ["x", "y"]), ("", [""]), ("only\n", ["only", ""])]
)
def test_load_txt_split_is_on_newline(cwd: Path, content: str, lines: list[str]) -> None:
    (cwd / "t.txt").write_text(content)
    assert utils.load_txt("t.txt", split=True)["list"] == lines


def test_load_txt_match_text(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cwd / "a.txt").write_bytes(TEXT.encode())
    r = utils.load_txt("a.txt", match_text=r"version\s+([\d.]+)")
    assert r["return"] == 0
    assert isinstance(r["match"], re.Match)
    assert r["match"].group(1) == "1.2.3"
    assert utils.load_txt("a.txt", match_text="zzz") == {"return": 0, "string": READ, "match": None}
    assert utils.load_txt("a.txt", match_text="zzz", fail_if_no_match="no version") == {
        "return": 1,
        "error": "no version",
        "string": READ,
    }
    assert capsys.readouterr().out == ""
    utils.load_txt("a.txt", match_text="zzz", debug=True)
    assert capsys.readouterr().out == "None\n"


def test_load_txt_missing_file(cwd: Path) -> None:
    assert utils.load_txt("nope.txt", check_if_exists=True) == {
        "return": 16,
        "error": "nope.txt was not found",
    }
    assert utils.load_txt(str(cwd), check_if_exists=True)["return"] == 16  # a directory
    with pytest.raises(FileNotFoundError):
        utils.load_txt("nope.txt")


def test_load_txt_remove_after_read_and_encoding(cwd: Path) -> None:
    (cwd / "r.txt").write_text("bye")
    assert utils.load_txt("r.txt", remove_after_read=True) == {"return": 0, "string": "bye"}
    assert not (cwd / "r.txt").exists()
    (cwd / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(UnicodeDecodeError):
        utils.load_txt("latin1.txt")
    assert utils.load_txt("latin1.txt", encoding="latin1")["string"] == "caf\xe9"


def test_save_txt_writes_text_as_is(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    assert utils.save_txt(str(path), "a\nb") == {"return": 0}
    assert path.read_bytes() == b"a\nb"
    assert utils.save_txt(str(path)) == {"return": 0}
    assert path.read_bytes() == b""


# --- JSON ------------------------------------------------------------------------------------


def test_save_json_format(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    assert utils.save_json(str(path), {"b": 1, "a": [1, 2], "u": "\xe9"}) == {"return": 0}
    assert (
        path.read_bytes() == b'{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1,\n  "u": "\\u00e9"\n}\n'
    )
    utils.save_json(str(path), {"b": 1, "a": 2}, None, False)
    assert path.read_bytes() == b'{"b": 1, "a": 2}\n'
    utils.save_json(str(path))
    assert path.read_bytes() == b"{}\n"


def test_save_json_unencodable_value_raises_and_keeps_the_file(tmp_path: Path) -> None:
    # deviation: cmind raises the same TypeError but has already emptied the file
    path = tmp_path / "s.json"
    path.write_text('{"kept": 1}\n')
    with pytest.raises(TypeError, match="not JSON serializable"):
        utils.save_json(str(path), {"x": object()})
    assert path.read_text() == '{"kept": 1}\n'


def test_load_json(cwd: Path) -> None:
    (cwd / "d.json").write_text('{"b": 1}')
    (cwd / "l.json").write_text("[1, 2]")
    (cwd / "bad.json").write_text('{"a":')
    (cwd / "enc.json").write_bytes(b'{"a":"\xff"}')
    assert utils.load_json("d.json") == {"return": 0, "meta": {"b": 1}}
    assert utils.load_json("l.json") == {"return": 0, "meta": [1, 2]}
    assert utils.load_json("bad.json") == {
        "return": 4,
        "error": "detected problem in bad.json: Expecting value: line 1 column 6 (char 5)",
    }
    assert utils.load_json("enc.json") == {
        "return": 4,
        "error": "detected problem in enc.json: 'utf-8' codec can't decode byte 0xff in "
        "position 6: invalid start byte",
    }
    assert utils.load_json("nope.json", check_if_exists=True) == {
        "return": 16,
        "error": "File nope.json not found",
    }
    with pytest.raises(FileNotFoundError):
        utils.load_json("nope.json")


def test_safe_load_json(cwd: Path) -> None:
    (cwd / "sub").mkdir()
    (cwd / "sub" / "cfg.json").write_text('{"imported": true}')
    (cwd / "bad.json").write_text("{")
    (cwd / "l.json").write_text("[1, 2]")
    found = {"return": 0, "meta": {"imported": True}}
    empty = {"return": 0, "meta": {}}
    # the two forms get-dataset-cognata-mlcommons uses
    assert utils.safe_load_json("sub", "cfg.json") == found
    assert utils.safe_load_json("", "sub/cfg.json") == found
    assert utils.safe_load_json("/nonexistent", str(cwd / "sub" / "cfg.json")) == found
    assert utils.safe_load_json("sub/cfg.json", "sub/cfg.json") == found
    assert utils.safe_load_json("sub", "nope.json") == empty
    assert utils.safe_load_json("", "bad.json") == empty
    assert utils.safe_load_json("sub", "") == empty  # a directory
    assert utils.safe_load_json("", "l.json") == {"return": 0, "meta": [1, 2]}


def test_safe_load_json_with_one_argument_reads_the_file(cwd: Path) -> None:
    # deviation: cmind looks for "sub/cfg.json/" and always answers {}
    (cwd / "sub").mkdir()
    (cwd / "sub" / "cfg.json").write_text('{"imported": true}')
    assert utils.safe_load_json("sub/cfg.json") == {"return": 0, "meta": {"imported": True}}


# --- YAML and JSON ---------------------------------------------------------------------------


def test_load_yaml_and_json_merges_json_over_yaml(cwd: Path) -> None:
    (cwd / "m.yaml").write_text("a: 1\nb: off\nc: [x]\nv: 20.10\nd: {e: 1}\nt: 2024-01-02\n")
    (cwd / "m.json").write_text('{"a": 2, "d": {"f": 3}}')
    # YAML 1.1 typing as in cmind; the merge is shallow (d comes from JSON alone)
    assert utils.load_yaml_and_json("m") == {
        "return": 0,
        "meta": {
            "a": 2,
            "b": False,
            "c": ["x"],
            "v": 20.1,
            "d": {"f": 3},
            "t": datetime.date(2024, 1, 2),
        },
    }
    (cwd / "y.yaml").write_text("a: 1\n")
    (cwd / "j.json").write_text('{"b": 1}')
    assert utils.load_yaml_and_json("y") == {"return": 0, "meta": {"a": 1}}
    assert utils.load_yaml_and_json(str(cwd / "j")) == {"return": 0, "meta": {"b": 1}}


def test_load_yaml_and_json_errors(cwd: Path) -> None:
    assert utils.load_yaml_and_json("zz") == {
        "return": 16,
        "error": "YAML and JSON file zz not found",
    }
    assert utils.load_yaml_and_json("zz", check_if_exists=False)["return"] == 16
    (cwd / "by.yaml").write_text("a: [1\n")
    assert utils.load_yaml_and_json("by") == {
        "return": 4,
        "error": "detected problem in by.yaml: while parsing a flow sequence\n"
        '  in "by.yaml", line 1, column 4\n'
        "expected ',' or ']', but got '<stream end>'\n"
        '  in "by.yaml", line 2, column 1',
    }
    (cwd / "bj.yaml").write_text("a: 1\n")
    (cwd / "bj.json").write_text("{")
    assert utils.load_yaml_and_json("bj") == {
        "return": 4,
        "error": "detected problem in bj.json: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)",
    }


def test_load_yaml_and_json_empty_or_non_mapping_yaml(cwd: Path) -> None:
    # deviation: cmind crashes with TypeError on both
    (cwd / "e.yaml").write_text("")
    (cwd / "l.yaml").write_text("- 1\n- 2\n")
    assert utils.load_yaml_and_json("e") == {"return": 0, "meta": {}}
    assert utils.load_yaml_and_json("l") == {
        "return": 4,
        "error": "detected problem in l.yaml: the top level is not a mapping",
    }


def test_load_json_or_yaml(cwd: Path) -> None:
    (cwd / "m.yaml").write_text("a: 1\nb: off\n")
    (cwd / "m.json").write_text('{"a": 2}')
    assert utils.load_json_or_yaml("m.json") == {"return": 0, "meta": {"a": 2}}
    assert utils.load_json_or_yaml("m.yaml") == {"return": 0, "meta": {"a": 1, "b": False}}
    assert utils.load_json_or_yaml("m.txt") == {
        "return": 1,
        "error": "file extension must be .json or .yaml in m.txt",
    }
    assert utils.load_json_or_yaml("nope.yaml", True) == {
        "return": 16,
        "error": "File nope.yaml not found",
    }
    with pytest.raises(FileNotFoundError):
        utils.load_json_or_yaml("nope.yaml")


# --- merge_dicts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "dict1", "dict2", "merged"),
    [
        pytest.param(
            {},
            {"a": 1, "l": [1, 2], "d": {"x": 1, "l": [1]}},
            {"a": 2, "l": [2, 3], "d": {"y": 2, "l": [1, 5]}, "n": None},
            {"a": 2, "l": [2, 3], "d": {"x": 1, "l": [1, 5], "y": 2}, "n": None},
            id="replace",
        ),
        pytest.param(
            {"append_lists": True},
            {"a": 1, "l": [1, 2], "d": {"x": 1, "l": [1]}},
            {"l": [2, 3], "d": {"l": [1, 5]}},
            {"a": 1, "l": [1, 2, 2, 3], "d": {"x": 1, "l": [1, 1, 5]}},
            id="append",
        ),
        pytest.param(
            # as in cmind, append_unique is not passed down to nested dicts
            {"append_lists": True, "append_unique": True},
            {"l": [1, 2], "d": {"l": [1]}},
            {"l": [2, 3, 3], "d": {"l": [1, 5]}},
            {"l": [1, 2, 3], "d": {"l": [1, 1, 5]}},
            id="append-unique",
        ),
        pytest.param(
            {"append_unique": True},
            {"l": [1, 2]},
            {"l": [2, 3, 3]},
            {"l": [2, 3]},
            id="unique-without-append",
        ),
        pytest.param(
            # as in cmind, ignore_keys is not passed down to nested dicts
            {"ignore_keys": ["a"]},
            {"a": 1, "d": {"k": 1}},
            {"a": 2, "b": 3, "d": {"k": 2, "a": 5}},
            {"a": 1, "d": {"k": 2, "a": 5}, "b": 3},
            id="ignore-keys",
        ),
        pytest.param(
            {"append_lists": True}, {"l": [1]}, {"l": [1]}, {"l": [1]}, id="equal-is-a-no-op"
        ),
        pytest.param({}, {"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="dict-over-scalar"),
        pytest.param({}, {"a": {"b": 1}}, {"a": 1}, {"a": 1}, id="scalar-over-dict"),
        pytest.param({}, {"a": "x"}, {"a": [1]}, {"a": [1]}, id="list-over-scalar"),
        pytest.param(
            # the adr patch of run-mlperf-inference-mobilenet-models
            {"append_lists": True, "append_unique": True},
            {"python": {"tags": "_x", "version_min": "3.8"}, "l": ["a"]},
            {
                "python": {"tags": "_y", "names": ["p"]},
                "compiler": {"tags": "gcc"},
                "l": ["a", "b"],
            },
            {
                "python": {"tags": "_y", "version_min": "3.8", "names": ["p"]},
                "l": ["a", "b"],
                "compiler": {"tags": "gcc"},
            },
            id="adr",
        ),
    ],
)
def test_merge_dicts(
    options: dict[str, Any], dict1: dict[str, Any], dict2: dict[str, Any], merged: dict[str, Any]
) -> None:
    r = utils.merge_dicts({"dict1": dict1, "dict2": dict2, **options})
    assert r == {"return": 0, "dict1": merged}
    assert r["dict1"] is dict1
    assert list(dict1) == list(merged)  # new keys are added in dict2's order


def test_merge_dicts_shares_new_dicts_and_copies_lists() -> None:
    dict2: dict[str, Any] = {"n": {"x": 1}, "l": [1]}
    dict1: dict[str, Any] = {}
    utils.merge_dicts({"dict1": dict1, "dict2": dict2})
    assert dict1["n"] is dict2["n"]
    assert dict1["l"] == dict2["l"]
    assert dict1["l"] is not dict2["l"]
    with pytest.raises(KeyError):
        utils.merge_dicts({"dict1": {}})


@pytest.mark.parametrize("old", ["x", None, 3])
def test_merge_dicts_appending_to_a_non_list_starts_a_list(old: object) -> None:
    # deviation: cmind calls old.append and crashes with AttributeError
    dict1: dict[str, Any] = {"a": old}
    r = utils.merge_dicts({"dict1": dict1, "dict2": {"a": [1]}, "append_lists": True})
    assert r == {"return": 0, "dict1": {"a": [1]}}


# --- env values, ids, time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("On", True),
        (False, False),
        ("1", False),
        (1, False),
        ("y", False),
        ("", False),
        (None, False),
        (" yes", False),
    ],
)
def test_check_if_true_yes_on(value: object, expected: bool) -> None:
    assert utils.check_if_true_yes_on({"K": value}, "K") is expected
    assert utils.check_if_true_yes_on({}, "K") is False


def test_gen_uid() -> None:
    uids = set()
    for _ in range(50):
        r = utils.gen_uid()
        assert sorted(r) == ["return", "uid"]
        assert r["return"] == 0
        assert re.fullmatch(r"[0-9a-f]{16}", r["uid"])
        uids.add(r["uid"])
    assert len(uids) == 50


def test_get_current_date_time() -> None:
    before = datetime.datetime.now().replace(microsecond=0)
    r = utils.get_current_date_time({})
    after = datetime.datetime.now()
    assert sorted(r) == ["array", "iso_datetime", "return"]
    assert r["return"] == 0
    now = datetime.datetime.fromisoformat(r["iso_datetime"])
    assert now.tzinfo is None
    assert before <= now <= after
    assert r["array"] == {
        "date_year": now.year,
        "date_month": now.month,
        "date_day": now.day,
        "time_hour": now.hour,
        "time_minute": now.minute,
        "time_second": now.second,
    }
    # what the import-mlperf-*-to-experiment scripts make of it: a directory name
    name = r["iso_datetime"].replace(":", "-").replace("T", ".")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d\.\d\d-\d\d-\d\d(\.\d{6})?", name)


def test_get_current_date_time_with_a_timezone() -> None:
    r = utils.get_current_date_time({"timezone": " Asia/Kolkata "})
    assert r["return"] == 0
    assert r["iso_datetime"].endswith("+05:30")
    r = utils.get_current_date_time({"timezone": "Nowhere/Nope"})
    assert r["return"] == 1
    assert r["error"].startswith("unknown timezone 'Nowhere/Nope'")


# --- debug_here ------------------------------------------------------------------------------


def test_debug_here_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CM_TMP_DEBUG_UID", raising=False)
    # test-debug/customize.py: not asked for, so cmind does not debug either
    hook = utils.debug_here(
        "/x/customize.py",
        port=5678,
        text="Debugging customize.py!",
        env={"CM_TMP_DEBUG_UID": "other"},
        env_debug_uid="8d96cd9fa4734204",
    )
    hook.breakpoint()
    utils.debug_here("/x/customize.py", env={}, env_debug_uid="abc").breakpoint()
    assert capsys.readouterr() == ("", "")


def test_debug_here_says_the_breakpoint_is_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    skipped = "cm-snakemake: remote debugging is not supported, breakpoint in /x/main.py skipped\n"
    utils.debug_here("/x/main.py", port=5678, text="t").breakpoint()
    assert capsys.readouterr() == ("", skipped)
    env = {"CM_TMP_DEBUG_UID": "8D96CD9FA4734204 "}
    utils.debug_here("/x/main.py", "localhost", 5678, "", env, "8d96cd9fa4734204")
    assert capsys.readouterr().err == skipped
    monkeypatch.setenv("CM_TMP_DEBUG_UID", "abc")
    utils.debug_here("/x/main.py", env={}, env_debug_uid="abc")
    assert capsys.readouterr().err == skipped


# --- the module ------------------------------------------------------------------------------


def test_the_helpers_the_corpus_uses_are_there() -> None:
    for name in CORPUS_HELPERS:
        assert callable(getattr(utils, name)), name
    assert sorted(set(utils.__all__) - {"UnsupportedHelper"}) == CORPUS_HELPERS


def test_any_other_helper_is_unsupported() -> None:
    message = (
        "not supported: cmind.utils.call_internal_module (cm-snakemake implements the helpers "
        "real scripts use; see docs/compatibility.md)"
    )
    with pytest.raises(UnsupportedHelper) as info:
        utils.call_internal_module(None, "x", "customize", "f", {})
    assert str(info.value) == message
    assert info.value.name == "call_internal_module"
    assert isinstance(info.value, NotImplementedError)
    assert isinstance(info.value, CMSnakemakeError)
    with pytest.raises(NotImplementedError, match=r"cmind\.utils\.get_result_table"):
        _ = utils.get_result_table


def test_unsupported_helpers_look_missing_to_hasattr_and_getattr() -> None:
    assert not hasattr(utils, "print_host_memory_use")
    assert getattr(utils, "compare_versions", None) is None
    with pytest.raises(AttributeError) as info:
        _ = utils.__wrapped__
    assert not isinstance(info.value, UnsupportedHelper)
    assert os.path.basename(utils.__file__) == "utils.py"
