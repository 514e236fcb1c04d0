"""Script search with CM's rules (docs/cm-behaviour.md §2.3, §2.4), on small repositories."""

from __future__ import annotations

import pytest

from cm_snakemake._util.reporting import RecordingReporter
from cm_snakemake.errors import AmbiguousScript, NoScriptFound
from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex
from cm_snakemake.index.search import find_scripts, select_script
from cm_snakemake.meta.tags import TagQuery

from ..conftest import RepoMaker


def script(alias: str, uid: str, tags: str, extra: str = "") -> str:
    return f"alias: {alias}\nuid: '{uid}'\ntags: [{tags}]\n{extra}"


@pytest.fixture
def index(make_repo: RepoMaker) -> ScriptIndex:
    root = make_repo(
        "demo",
        {
            "get-llvm": script("get-llvm", "a" * 16, "get,compiler,llvm", "sort: 100\n"),
            "get-gcc": script("get-gcc", "b" * 16, "get,compiler,gcc", "sort: 500\n"),
            "get-cl": script("get-cl", "c" * 16, "get,compiler,cl", "sort: 1000\n"),
            "get-python3": script(
                "get-python3",
                "d" * 16,
                "get,python,python3",
                "variations:\n  shared: {}\n  conda.#: {}\n",
            ),
            "zz-python": script("zz-python", "e" * 16, "get,python,python3"),
        },
    )
    return ScriptIndex([open_repository(root)])


def aliases(index: ScriptIndex, tags: str, artifact: str | None = None) -> list[str]:
    return [e.alias for e in find_scripts(index, TagQuery.parse(tags), artifact=artifact)]


def test_order_is_sort_then_path(index: ScriptIndex) -> None:
    assert aliases(index, "get,compiler") == ["get-llvm", "get-gcc", "get-cl"]
    assert aliases(index, "get,python") == ["get-python3", "zz-python"]


def test_negative_tags(index: ScriptIndex) -> None:
    assert aliases(index, "get,compiler,-llvm") == ["get-gcc", "get-cl"]


def test_variations_filter_scripts(index: ScriptIndex) -> None:
    assert aliases(index, "get,python,_shared") == ["get-python3"]
    assert aliases(index, "get,python,_conda.myenv") == ["get-python3"]  # dynamic key
    assert aliases(index, "get,python,-_shared") == ["get-python3"]  # excluded also must exist


def test_trailing_dot_does_not_match_dynamic(index: ScriptIndex) -> None:
    with pytest.raises(NoScriptFound):
        find_scripts(index, TagQuery.parse("get,python,_conda."))


def test_alias_uid_and_repo_references(index: ScriptIndex) -> None:
    assert aliases(index, "", "get-gcc") == ["get-gcc"]
    assert aliases(index, "", "b" * 16) == ["get-gcc"]
    assert aliases(index, "", f"get-gcc,{'b' * 16}") == ["get-gcc"]
    assert aliases(index, "", f"{'b' * 16},wrong-name") == ["get-gcc"]  # uid decides alone
    assert aliases(index, "", "demo:get-cl") == ["get-cl"]
    assert aliases(index, "", "get-*") == ["get-python3", "get-llvm", "get-gcc", "get-cl"]
    assert aliases(index, "compiler", "get-*") == ["get-llvm", "get-gcc", "get-cl"]
    with pytest.raises(NoScriptFound, match="no script is called 'other:get-cl'"):
        find_scripts(index, TagQuery(), artifact="other:get-cl")


def test_unknown_tag_suggests_close_tags_and_scripts(index: ScriptIndex) -> None:
    with pytest.raises(NoScriptFound) as info:
        find_scripts(index, TagQuery.parse("get,pyhton3"))
    assert "unknown tag 'pyhton3'" in str(info.value)
    assert "python3" in info.value.close_tags
    assert "get-python3" in info.value.close_scripts


def test_known_tags_without_a_common_script(index: ScriptIndex) -> None:
    with pytest.raises(NoScriptFound) as info:
        find_scripts(index, TagQuery.parse("llvm,gcc"))
    assert "no script has all of the tags llvm,gcc" in str(info.value)
    assert set(info.value.close_scripts) >= {"get-llvm", "get-gcc"}


def test_missing_variation_lists_what_exists(index: ScriptIndex) -> None:
    with pytest.raises(NoScriptFound) as info:
        find_scripts(index, TagQuery.parse("get,python3,_shard"))
    text = str(info.value)
    assert "get-python3 lacks _shard; it has: _shared, _conda.#" in text
    assert "_shared" in info.value.close_tags


def test_unique_selection_lists_candidates(index: ScriptIndex) -> None:
    with pytest.raises(AmbiguousScript) as info:
        select_script(index, TagQuery.parse("get,compiler"), unique=True)
    assert [c.split()[0] for c in info.value.candidates] == ["get-llvm", "get-gcc", "get-cl"]
    assert "cm-snakemake show script get-llvm" in info.value.render()


def test_first_in_cm_order_is_taken_and_reported(index: ScriptIndex) -> None:
    reporter = RecordingReporter()
    entry = select_script(index, TagQuery.parse("get,compiler"), reporter=reporter)
    assert entry.alias == "get-llvm"
    assert reporter.of("chosen") == ["get,compiler -> demo:get-llvm"]


@pytest.mark.parametrize("user_name", ["aaa-user", "zzz-user"])
def test_bundled_scripts_come_after_registered_ones(make_repo: RepoMaker, user_name: str) -> None:
    """A registered repository's detect-os wins over the bundled one, whichever path sorts
    first (the user repository's folder is made before or after the bundled one's name)."""
    from cm_snakemake.index.repos import BUNDLED_REPO_PATH

    root = make_repo(user_name, {"detect-os": script("detect-os", "f" * 16, "detect,os")})
    bundled = open_repository(BUNDLED_REPO_PATH, bundled=True)
    for repos in ([bundled, open_repository(root)], [open_repository(root), bundled]):
        found = find_scripts(ScriptIndex(repos), TagQuery.parse("detect,os"))
        assert found[0].path.startswith(str(root))
        assert [e.repo for e in found][-1] == bundled.alias
