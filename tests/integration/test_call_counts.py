"""``run`` on a one-node plan selects its script once, prepares its node once and reads
its flags and facts once (docs/architecture.md, "A walk through run")."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.index import repos, scripts, search
from cm_snakemake.plan import planner, provider
from cm_snakemake.runtime import facts as facts_module
from tests.conftest import RepoMaker, cli

ONE_NODE = """\
alias: one-node
uid: 1111222233334444
automation_alias: script
tags: [one, node]
cache: true
input_mapping:
  level: CM_LEVEL
new_env_keys: [CM_LEVEL_OUT]
"""
RUN_SH = 'echo "CM_LEVEL_OUT=level-${CM_LEVEL}" > tmp-run-env.out\n'


def _count(
    monkeypatch: pytest.MonkeyPatch, calls: Counter[str], owner: Any, name: str, label: str
) -> None:
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[label] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    finder = search.find_scripts

    def find(*args: Any, **kwargs: Any) -> Any:
        calls["find_scripts"] += 1
        return finder(*args, **kwargs)

    monkeypatch.setattr(search, "find_scripts", find)
    monkeypatch.setattr(provider, "find_scripts", find)
    _count(monkeypatch, calls, scripts.ScriptIndex, "meta", "meta")
    _count(monkeypatch, calls, planner, "prepare", "prepare")
    _count(monkeypatch, calls, repos.Registry, "__init__", "Registry")
    _count(monkeypatch, calls, facts_module, "load_facts", "load_facts")
    return calls


def test_one_node_run_selects_prepares_and_reads_once(
    make_repo: RepoMaker, tmp_path: Path, counted: Counter[str]
) -> None:
    root = make_repo("counts", {"one-node": ONE_NODE}, files={"one-node/run.sh": RUN_SH})
    assert cli("repo", "add", str(root))[0] == 0
    facts = tmp_path / "facts.json"
    code, _, err = cli("facts", f"--out={facts}")
    assert code == 0, err
    counted.clear()

    code, out, err = cli("run", "one node", "--level=3", f"--facts={facts}", "--json")

    assert code == 0, err
    assert json.loads(out)["new_env"] == {"CM_LEVEL_OUT": "level-3"}
    assert counted == Counter(
        {"find_scripts": 1, "meta": 1, "prepare": 1, "Registry": 1, "load_facts": 1}
    )
    # the second run is served from what the first remembered: nothing is planned
    counted.clear()
    code, out, err = cli("run", "one node", "--level=3", f"--facts={facts}", "--json")
    assert code == 0, err
    assert json.loads(out)["from_cache"] is True
    assert counted["find_scripts"] == 0 and counted["prepare"] == 0
    assert counted["Registry"] == 1
