"""cm-snakemake's ``mlc.utils`` against the real one (mlcflow 1.3.8 from the package index).

The MLC corpus's ``automation/utils.py`` starts with ``from mlc.utils import *`` and then uses
``os``, ``json`` and ``yaml`` from it, so what a star import hands on matters as much as the
helpers. Both modules get the same calls; the answers must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cm_snakemake.runtime.compat import mlc_utils

from ..conftest import _test_cache

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

MLCFLOW = "mlcflow==1.3.8"

# (helper, positional arguments); files are relative to the folder the calls run in
CALLS: list[tuple[str, list[Any]]] = [
    ("load_txt", ["text.txt"]),
    ("load_txt", ["text.txt", False, True]),
    ("load_txt", ["missing.txt"]),
    ("load_txt", ["missing.txt", True]),
    ("load_json", ["data.json"]),
    ("load_json", ["broken.json"]),
    ("load_json", ["missing.json"]),
    ("save_json", ["out.json", {"b": [1, 2], "a": "x"}]),
    ("save_txt", ["out.txt", "line\n"]),
    ("save_yaml", ["out.yaml", {"k": ["v"]}]),
    ("read_json", ["data.json"]),
    ("read_yaml", ["data.yaml"]),
    ("compare_versions", ["1.10", "1.9"]),
    ("compare_versions", ["2.0", "2.0.0"]),
    ("convert_tags_to_list", ["a, b,,c"]),
    ("convert_tags_to_list", [3]),
    ("convert_env_to_dict", ["A=1\nB = two=2\nnoequals\n"]),
    ("generate_temp_file", [{"prefix": "p-", "suffix": ".txt", "string": "x"}]),
    ("get_new_uid", []),
    ("is_uid", ["0123456789abcdef"]),
    ("is_uid", ["not-a-uid"]),
    ("run_system_cmd", [{"cmd": "echo hi; echo err >&2"}]),
    ("run_system_cmd", [{"cmd": "exit 3"}]),
    ("run_system_cmd", [{}]),
    (
        "merge_dicts",
        [{"dict1": {"a": [1], "d": {"x": 1}}, "dict2": {"a": [1, 2], "d": {"y": 2}}}],
    ),
    (
        "merge_dicts",
        [
            {
                "dict1": {"a": [1], "b": "old"},
                "dict2": {"a": [1, 2], "b": "new"},
                "append_lists": True,
                "append_unique": True,
            }
        ],
    ),
]

CHILD = """
import json, sys
name = sys.argv[1]
if name == "ours":
    from cm_snakemake.runtime.compat import mlc_utils as utils
else:
    import mlc.utils as utils
calls = json.loads(sys.argv[2])
answers = []
for helper, args in calls:
    try:
        value = getattr(utils, helper)(*args)
    except Exception as exc:
        value = {"raised": type(exc).__name__}
    if isinstance(value, dict):  # random parts: their shape only
        value = {k: v for k, v in value.items() if k != "match"}
        if "uid" in value:
            value["uid"] = len(value["uid"])
        if "file_name" in value:
            value["file_name"] = [len(value["file_name"]), value["file_name"][:2],
                                  value["file_name"][-4:]]
    answers.append(value)
star = {}
exec("from mlc.utils import *" if name != "ours" else
     "from cm_snakemake.runtime.compat.mlc_utils import *", star)
names = sorted(k for k in star if not k.startswith("__"))
files = {f: open(f).read() for f in ("out.json", "out.txt", "out.yaml")}
print(json.dumps({"answers": answers, "names": names, "files": files}, default=str))
"""


@pytest.fixture(scope="module")
def mlcflow_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with the real mlcflow, made once in the test cache."""
    venv = _test_cache() / "mlcflow-1.3.8"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    away = tmp_path_factory.mktemp("mlc-probe")  # importing mlc writes a log where it runs
    probe = subprocess.run(
        [str(python), "-c", "import mlc.utils"],
        capture_output=True,
        check=False,
        cwd=away,
        env={**os.environ, "HOME": str(away)},
    )
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", MLCFLOW], check=True, timeout=600
        )
    return python


def _answers(python: str, who: str, folder: Path) -> dict[str, Any]:
    for name, text in {
        "text.txt": "one\ntwo\n",
        "data.json": '{"k": [1, 2]}',
        "broken.json": "{",
        "data.yaml": "k: [1, 2]\n",
    }.items():
        (folder / name).write_text(text)
    env = {**os.environ, "HOME": str(folder)}  # importing mlc writes into $HOME/MLC
    done = subprocess.run(
        [python, "-c", CHILD, who, json.dumps(CALLS)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def test_the_same_calls_get_the_same_answers(mlcflow_python: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "ours").mkdir()
    real = _answers(str(mlcflow_python), "real", tmp_path / "real")
    ours = _answers(sys.executable, "ours", tmp_path / "ours")
    differing = [
        (helper, args, mine, theirs)
        for (helper, args), mine, theirs in zip(
            CALLS, ours["answers"], real["answers"], strict=True
        )
        if mine != theirs
    ]
    assert differing == []
    assert ours["files"] == real["files"]


def test_a_star_import_hands_on_what_the_real_one_does(
    mlcflow_python: Path, tmp_path: Path
) -> None:
    real = _answers(str(mlcflow_python), "real", tmp_path)
    ours = set(mlc_utils.__all__)
    modules = {n for n in real["names"] if n in sys.modules or n in ("version", "yaml")}
    assert modules - ours == set()  # every module the real one hands on (os, json, yaml, ...)
    assert ours - set(real["names"]) == set()  # nothing the real one lacks
