"""The native-script contract: script choice, safe quoting, reading tmp-run-env.out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cm_snakemake.runtime.exports import expand_placeholders, select_keys
from cm_snakemake.runtime.native import (
    read_env_out,
    run_wrapper,
    select_native_script,
    write_wrapper,
)


def test_most_specific_native_script_wins(tmp_path: Path) -> None:
    for name in ["run.sh", "run-ubuntu.sh", "run-ubuntu-22.04.sh", "run-aarch64.sh"]:
        (tmp_path / name).write_text("")
    env = {
        "CM_HOST_OS_FLAVOR": "ubuntu",
        "CM_HOST_OS_VERSION": "22.04",
        "CM_HOST_PLATFORM_FLAVOR": "x86_64",
    }
    assert select_native_script(tmp_path, "run", env) == tmp_path / "run-ubuntu-22.04.sh"
    env["CM_HOST_OS_VERSION"] = "24.04"
    assert select_native_script(tmp_path, "run", env) == tmp_path / "run-ubuntu.sh"
    env = {"CM_HOST_OS_FLAVOR": "debian", "CM_HOST_PLATFORM_FLAVOR": "aarch64"}
    assert select_native_script(tmp_path, "run", env) == tmp_path / "run-aarch64.sh"
    assert select_native_script(tmp_path, "run", {}) == tmp_path / "run.sh"
    assert select_native_script(tmp_path, "install", {}) is None
    (tmp_path / "run-rhel.sh").write_text("")
    mlc = {"MLC_HOST_OS_FLAVOR": "rhel"}
    assert select_native_script(tmp_path, "run", mlc, env_prefix="MLC_") == tmp_path / "run-rhel.sh"


def _echo_script(tmp_path: Path) -> Path:
    script = tmp_path / "show.sh"
    script.write_text('printf %s "$CM_V" > value.out\nprintf %s "$MYPATH" > path.out\n')
    return script


_BASE = {"PATH": "/usr/bin:/bin", "HOME": "/home/someone", "CM_OTHER": "other value"}
_RECOGNISED = re.compile(
    r"\\[$`\"\\]|\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*(?:\[[0-9]+\])?(?::?[-+=?][^}$`\\\"(]*)?\})"
)


def _as_cm_means_it(value: str) -> str | None:
    """What real bash makes of CM's ``export CM_V="value"``, when that line runs no command
    and every ``$`` in it is one CM's scripts use (an escaped one or a variable); else None."""
    rest = _RECOGNISED.sub("", value)
    if any(c in rest for c in '$`"') or value.endswith("\\"):
        return None
    line = f'export CM_V="{value}"; printf %s "$CM_V"'
    done = subprocess.run(["bash", "-c", line], env=_BASE, capture_output=True, check=False)
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
    )
    | st.lists(st.sampled_from([*"ab $\\{}[]0:-_`\"'()\n", "HOME", "CM_OTHER"]), max_size=12).map(
        "".join
    )
    | st.sampled_from(
        [
            '"',
            "$(touch pwned)",
            "`touch pwned`",
            "a b",
            "x\ny",
            "a=b=c",
            "'",
            "\\",
            "${HOME}",
            "$HOME/x",
            "${NOPE:-fallback}",
            "echo \\${PIPESTATUS[0]} > exitstatus",
            "C:\\dir\\file",
            "a\\\\b",
            "${X:-$(touch pwned)}",
            "; rm -rf /tmp/x",
            "-n",
        ]
    )
)
def test_values_mean_what_they_mean_under_cm(tmp_path: Path, value: str) -> None:
    """CM writes ``export K="value"``: escapes and variables mean what bash makes of them,
    checked against real bash; a command substitution or backquote never runs and, like a
    ``"``, stays literal text."""
    script = _echo_script(tmp_path)
    write_wrapper(tmp_path, {"CM_V": value}, script)
    assert run_wrapper(tmp_path, base_env=_BASE) == 0
    got = (tmp_path / "value.out").read_bytes().decode("utf-8")
    assert not (tmp_path / "pwned").exists()
    expected = _as_cm_means_it(value)
    if expected is not None:
        assert got == expected
    elif "\\" not in value and "$" not in value.replace("$(", "").replace("${X:-", ""):
        assert got == value  # quotes and backquotes are data


def test_plus_keys_are_prepended(tmp_path: Path) -> None:
    script = _echo_script(tmp_path)
    write_wrapper(tmp_path, {"+MYPATH": ("/a b", "/c"), "CM_V": ""}, script, separator=":")
    run_wrapper(tmp_path, base_env={"PATH": "/usr/bin:/bin", "MYPATH": "/old"})
    assert (tmp_path / "path.out").read_text() == "/a b:/c:/old"
    run_wrapper(tmp_path, base_env={"PATH": "/usr/bin:/bin"})
    assert (tmp_path / "path.out").read_text() == "/a b:/c"  # no trailing separator


def test_bad_names_are_not_exported(tmp_path: Path) -> None:
    _, skipped = write_wrapper(
        tmp_path, {"OK": "1", "BAD-NAME": "2", "$(x)": "3"}, _echo_script(tmp_path)
    )
    assert skipped == ["$(x)", "BAD-NAME"]
    assert "BAD-NAME" not in (tmp_path / "tmp-run.sh").read_text()


def test_script_prefix_lines_come_first(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text('printf %s "$FROM_PREFIX" > out\n')
    write_wrapper(tmp_path, {}, script, script_prefix=["export FROM_PREFIX=prefixed"])
    run_wrapper(tmp_path)
    assert (tmp_path / "out").read_text() == "prefixed"


def test_failing_script_returns_its_code(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("exit 3\n")
    write_wrapper(tmp_path, {}, script)
    log = tmp_path / "log.txt"
    assert run_wrapper(tmp_path, log=log) == 3


def test_env_out_splits_on_the_first_equals(tmp_path: Path) -> None:
    (tmp_path / "tmp-run-env.out").write_text(
        "A=1\nB=a=b=c\n\nC = spaced \nnot a pair\n=novalue\nD=\n"
    )
    values, bad = read_env_out(tmp_path / "tmp-run-env.out")
    assert values == {"A": "1", "B": "a=b=c", "C": "spaced", "D": ""}
    assert bad == ["not a pair", "=novalue"]
    assert read_env_out(tmp_path / "missing") == ({}, [])


def test_export_filter() -> None:
    env = {
        "CM_PYTHON_BIN": "p",
        "CM_PYTHON_VERSION": "3",
        "+PATH": ("x",),
        "OTHER": "o",
        "CM_FINAL_NAME": "CM_MODEL_PATH",
        "CM_MODEL_PATH": "/m",
    }
    assert select_keys(env, ["CM_PYTHON_*", "+PATH"]) == {
        "CM_PYTHON_BIN": "p",
        "CM_PYTHON_VERSION": "3",
        "+PATH": ("x",),
    }
    assert select_keys(env, ["<<<CM_FINAL_NAME>>>"]) == {"CM_MODEL_PATH": "/m"}
    assert select_keys(env, ["<<<CM_MISSING>>>"]) == {}
    assert select_keys(env, []) == {}
    assert expand_placeholders("v<<<CM_PYTHON_VERSION>>>-<<<NOPE>>>", env) == "v3-<<<NOPE>>>"


def test_bash_is_available() -> None:
    assert subprocess.run(["bash", "-c", "true"], check=False).returncode == 0


def test_an_env_out_that_is_not_a_file_is_a_clear_error(tmp_path: Path) -> None:
    from cm_snakemake.errors import CMSnakemakeError

    (tmp_path / "tmp-run-env.out").mkdir()
    with pytest.raises(CMSnakemakeError, match=r"tmp-run-env.out cannot be read"):
        read_env_out(tmp_path / "tmp-run-env.out")
