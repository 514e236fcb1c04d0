"""Reading meta files: YAML 1.1 pitfalls, positions, broken files, CM's YAML+JSON merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm_snakemake.errors import MetaError
from cm_snakemake.meta.metafile import KeyedDict, load_meta_files, load_yaml_text


def test_plain_scalars_keep_their_text() -> None:
    data, _ = load_yaml_text(
        "uid: 0123456789012345\nflag: off\nok: yes\nversion: 20.10\nn: 8\ndate: 2024-01-02\n",
        "m.yaml",
    )
    assert data == {
        "uid": "0123456789012345",
        "flag": "off",
        "ok": "yes",
        "version": "20.10",
        "n": "8",
        "date": "2024-01-02",
    }


def test_null_and_quoted_values() -> None:
    data, _ = load_yaml_text("a:\nb: ~\nc: 'off'\nd: [1, x]\n", "m.yaml")
    assert data == {"a": None, "b": None, "c": "off", "d": ["1", "x"]}


def test_key_lines_are_remembered() -> None:
    data, _ = load_yaml_text("alias: x\nvariations:\n  a:\n    env: {}\n", "s/_cm.yaml")
    assert isinstance(data, KeyedDict)
    assert str(data.where("variations")) == "s/_cm.yaml:2"
    assert str(data["variations"].where("a")) == "s/_cm.yaml:3"


def test_duplicate_keys_are_reported() -> None:
    _, duplicates = load_yaml_text("env:\n  A: 1\n  A: 2\n", "m.yaml")
    assert duplicates == [("A", 3)]


def test_broken_yaml_names_file_and_line() -> None:
    with pytest.raises(MetaError) as info:
        load_yaml_text("alias: x\ntags: [a, b\nuid: y\n", "bad/_cm.yaml")
    assert info.value.where.path == "bad/_cm.yaml"
    assert info.value.where.line is not None
    assert "bad/_cm.yaml:" in str(info.value)
    assert "broken YAML" in str(info.value)


def test_broken_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "_cm.json"
    path.write_text('{\n  "alias": "x",\n  "tags": ["a",]\n}\n')
    with pytest.raises(MetaError) as info:
        load_meta_files([path])
    assert info.value.where.line == 3
    assert f"{path}:3" in str(info.value)


def test_json_shallow_updates_yaml(tmp_path: Path) -> None:
    yml = tmp_path / "_cm.yaml"
    yml.write_text("alias: a\nenv:\n  X: '1'\n  Y: '2'\ntags: [t]\n")
    jsn = tmp_path / "_cm.json"
    jsn.write_text('{"env": {"Z": "3"}, "uid": "u"}')
    merged, _ = load_meta_files([yml, jsn])
    assert merged["env"] == {"Z": "3"}  # replaced, not merged: CM's rule
    assert merged["alias"] == "a" and merged["uid"] == "u"
    assert merged.where("env").path == str(jsn)
    assert merged.where("tags").path == str(yml)


def test_a_meta_file_must_hold_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "_cm.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(MetaError, match="must hold a mapping"):
        load_meta_files([path])


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "_cm.yaml"
    path.write_bytes(b"alias: \xff\xfe\n")
    with pytest.raises(MetaError, match="not UTF-8"):
        load_meta_files([path])
