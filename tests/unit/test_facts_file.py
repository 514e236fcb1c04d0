"""Facts files that are not what ``cm-snakemake facts --out`` writes give a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm_snakemake.errors import CMSnakemakeError
from cm_snakemake.runtime.facts import load_facts


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"x"', '{"format": 1}', "{", ""])
def test_a_broken_facts_file_names_itself(tmp_path: Path, text: str) -> None:
    path = tmp_path / "facts.json"
    path.write_text(text)
    with pytest.raises(CMSnakemakeError, match=r"facts file .*facts\.json"):
        load_facts(path)
