"""``cm-snakemake run --jobs``: requests compiled into Snakemake workflows of real jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..conftest import RepoMaker

WRITER = """\
date +%s%N > "${CM_TMP_CURRENT_SCRIPT_PATH}/made-$(date +%s%N).conf"
echo CM_WRITTEN=yes > tmp-run-env.out
"""


def test_a_script_writing_into_its_own_folder_still_gives_its_result(
    make_repo: RepoMaker, home: Path
) -> None:
    """The result is read from the target the Snakemake controller compiled, not from a new
    plan made after the run (whose key may differ once a script wrote into its folder)."""
    root = make_repo(
        "writes",
        {
            "writer": "alias: writer\nuid: '0000000000001301'\ntags: [writer]\n"
            "new_env_keys: [CM_WRITTEN]\ndeps: [{tags: dep13}]\n",
            "dep13": "alias: dep13\nuid: '0000000000001302'\ntags: [dep13]\n"
            "new_env_keys: [CM_DEP]\n",
        },
        files={"writer/run.sh": WRITER, "dep13/run.sh": "echo CM_DEP=1 > tmp-run-env.out\n"},
    )
    env = {**os.environ, "CMSM_HOME": str(home)}
    command = [sys.executable, "-m", "cm_snakemake"]
    subprocess.run([*command, "repo", "add", str(root)], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*command, "run", "writer", "--jobs=2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["new_env"] == {"CM_WRITTEN": "yes"}
    assert list((root / "script" / "writer").glob("made-*.conf"))  # it did write there
