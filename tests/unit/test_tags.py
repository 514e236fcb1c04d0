"""CM's tag grammar."""

from __future__ import annotations

import pytest

from cm_snakemake.errors import TagConflict
from cm_snakemake.meta.tags import TagQuery, split_tags


def test_four_kinds_of_tags() -> None:
    q = TagQuery.parse("get,python3,-conda,_shared,-_venv,_-lto")
    assert q.tags == ("get", "python3")
    assert q.not_tags == ("conda",)
    assert q.variations == ("shared",)
    assert q.excluded == ("venv", "lto")
    assert str(q) == "get,python3,-conda,_shared,-_venv,-_lto"


def test_order_and_duplicates() -> None:
    q = TagQuery.parse(["get, python3", "_b,_a,_b"])
    assert q.tags == ("get", "python3")
    assert q.variations == ("b", "a")


def test_spaces_are_not_separators_in_meta_tags() -> None:
    assert split_tags("get,x,_cmd.python a.py") == ["get", "x", "_cmd.python a.py"]


@pytest.mark.parametrize("text", ["get,-get", "_x,-_x", "a,_x,_-x"])
def test_conflicts(text: str) -> None:
    with pytest.raises(TagConflict):
        TagQuery.parse(text)


def test_matching_is_set_logic() -> None:
    q = TagQuery.parse("get,python,-conda")
    assert q.matches(frozenset({"get", "python", "python3"}))
    assert not q.matches(frozenset({"get", "python", "conda"}))
    assert not q.matches(frozenset({"get", "pyth"}))
