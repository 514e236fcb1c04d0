"""The real cmx4mlops corpus: every script loads, and find agrees with CM 4.x.

The golden answers in ``tests/data/cm_find_golden.json`` were produced by running real CM
(``cmind`` 4.2.0 from the package index) over the same corpus; ``make_cm_find_golden.py``
beside it says exactly how. Deliberate differences, listed in docs/compatibility.md:

* a request that matches nothing is an error with suggestions (CM prints nothing, exit 0);
* results are printed in the order CM's ``run`` tries them (meta ``sort``, then path);
  ``cm find`` prints them in folder order;
* scripts that share a uid are all found (CM's index shows one of them; its directory scan,
  ``CM_INDEX=no``, shows all).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cm_snakemake.index.repos import open_repository
from cm_snakemake.index.scripts import ScriptIndex

from ..conftest import DATA, cli

GOLDEN = json.loads((DATA / "cm_find_golden.json").read_text())
pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus_home(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home with the corpus registered (and its index built) for the whole module."""
    home = tmp_path_factory.mktemp("corpus-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMSM_HOME", str(home))
        code, out, err = cli("repo", "add", str(corpus))
    assert code == 0, err
    assert "cm dialect" in out
    yield home


@pytest.fixture
def registered(corpus: Path, corpus_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CMSM_HOME", str(corpus_home))
    return corpus


def test_every_script_of_the_corpus_loads(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = ScriptIndex([open_repository(corpus)], cache_dir=tmp_path / "idx")
    warnings = [w for e in index for w in e.warnings]
    with capsys.disabled():
        print(
            f"\ncmx4mlops 1.0.1: {len(index)} scripts, {len(index.broken())} unreadable, "
            f"{len(warnings)} warnings, {len(index.duplicate_uids)} shared uids:"
        )
        for warning in warnings:
            print(f"  {warning}")
    assert [e.error for e in index.broken()] == []
    assert len(index) == 306  # every folder with a _cm.yaml
    for entry in index:  # the typed meta of every script is there
        assert index.meta(entry).alias == entry.alias
    assert set(index.duplicate_uids) == {"824e61316c074253", "8d3cd46f54464810"}
    assert any("unknown key 'alis'" in w for w in warnings)
    assert any("'default-variations'" in w for w in warnings)
    assert any("'update_tags_from_env_with_prefix1'" in w for w in warnings)


def test_mlc_dialect_repository_loads() -> None:
    index = ScriptIndex([open_repository(DATA / "mlc-repo")])
    assert index.broken() == []
    assert sorted(e.alias for e in index) == ["app-mlc-demo", "detect-mlc-host", "get-mlc-tool"]
    tool = index.meta(next(e for e in index if e.alias == "get-mlc-tool"))
    assert tool.dialect.env_prefix == "MLC_"
    assert tool.predeps is False and tool.default_version == "20.10"
    assert tool.default_env == {"MLC_MLC_TOOL_FLAVOUR": "off"}
    demo = index.meta(next(e for e in index if e.alias == "app-mlc-demo"))
    dep = demo.deps[1]
    assert dep.tags == "get,mlc-tool,_<<<MLC_DEMO_SPEED>>>"
    assert dep.continue_on_error and dep.ignore_missing and dep.inherit_cache_expiration
    assert dep.update_tags_if_env == {"_slow": ({"MLC_DEMO_SLOW": ("yes",)},)}


def _case_id(case: dict[str, object]) -> str:
    return str(case["tags"]) or "(empty)"


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=_case_id)
def test_find_agrees_with_cm(registered: Path, case: dict[str, object]) -> None:
    code, out, err = cli("find", "script", f"--tags={case['tags']}")
    expected = case.get("index_off") or case
    assert isinstance(expected, dict)
    if case["returncode"] != 0:
        assert code == 1
        assert "is requested both as" in err
        return
    if not expected["aliases"]:
        assert code == 1, out
        assert "no script found" in err
        return
    assert code == 0, err
    corpus_paths = [Path(p) for p in out.split() if Path(p).is_relative_to(registered)]
    ours = [p.name for p in corpus_paths]
    assert sorted(ours) == sorted(expected["aliases"])  # type: ignore[arg-type]
    index = ScriptIndex.from_registry()
    sort_of = {Path(e.path).name: e.sort for e in index if Path(e.path).is_relative_to(registered)}
    assert ours == sorted(ours, key=lambda a: (sort_of[a], str(registered / "repo/script" / a)))


def test_compiler_order_is_cm_run_order(registered: Path) -> None:
    _, out, _ = cli("find", "get compiler")
    assert [Path(p).name for p in out.split()] == ["get-llvm", "get-gcc", "get-cl"]
