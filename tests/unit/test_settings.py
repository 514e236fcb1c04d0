"""The CMSM_* environment variables: one table, read live, documented in the README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cm_snakemake
from cm_snakemake._util.settings import (
    OTHER_VARIABLES,
    SECRET_PREFIX,
    SettingError,
    Settings,
    markdown_table,
    name_of,
    secret_name,
    settings,
    variables,
)
from cm_snakemake.cache import store
from cm_snakemake.index import links

from ..conftest import cli

PACKAGE = Path(cm_snakemake.__file__).parent
ROOT = PACKAGE.parent
README = ROOT / "README.md"
TABLE_START = "<!-- CMSM_* variables: cm_snakemake._util.settings.markdown_table() -->"
TABLE_END = "<!-- end of the CMSM_* variables -->"


def test_the_readme_table_is_the_settings_table() -> None:
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text
    shown = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert shown == markdown_table(), (
        "README.md's table of CMSM_* variables differs from the settings table; paste "
        "python -c 'from cm_snakemake._util.settings import markdown_table; "
        "print(markdown_table())' between the markers"
    )


def test_every_cmsm_name_in_the_package_is_in_the_table() -> None:
    """A variable read (or set) anywhere in the package, bundled scripts included, has a row."""
    known = {v.name for v in (*variables(), *OTHER_VARIABLES)}
    used: dict[str, str] = {}
    for path in PACKAGE.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml", ".smk", ".json"):
            for name in re.findall(r"CMSM_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")):
                used.setdefault(name, str(path.relative_to(PACKAGE)))
    missing = {
        name: where
        for name, where in used.items()
        if name not in known and not name.startswith(SECRET_PREFIX.rstrip("_"))
    }
    assert not missing, f"CMSM_* names without a row in _util/settings.py: {missing}"
    assert f"{SECRET_PREFIX}<digest>" in known


def test_values_are_read_when_asked_not_at_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CMSM_HOME", str(tmp_path / "a"))
    assert settings.home == str((tmp_path / "a").resolve())
    monkeypatch.setenv("CMSM_HOME", str(tmp_path / "b"))
    assert settings.home == str((tmp_path / "b").resolve())
    monkeypatch.delenv("CMSM_CACHE", raising=False)
    assert settings.cache == os.path.join(settings.home, "cache")
    monkeypatch.setenv("CMSM_CACHE", "~/shared-cache")
    assert settings.cache == os.path.expanduser("~/shared-cache")


def test_defaults_when_unset_or_empty() -> None:
    home = os.path.join(os.path.expanduser("~"), ".cm-snakemake")
    for environ in ({}, {"CMSM_HOME": "", "CMSM_WORKDIR": ""}):
        s = Settings(environ)
        assert s.home == home
        assert s.cache == os.path.join(home, "cache")
        assert s.workdir == os.path.abspath(".cmsm")
        assert s.cache_group_writable is False
        assert s.allow_external_links is False
        assert s.controller_started is None


@pytest.mark.parametrize("text", ["1", "yes", "YES", " true ", "On"])
def test_yes_no_variables_have_one_rule(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """``CMSM_CACHE_GROUP_WRITABLE=YES`` was ignored while ``CMSM_ALLOW_EXTERNAL_LINKS=YES``
    worked: two readers, two rules."""
    monkeypatch.setenv("CMSM_CACHE_GROUP_WRITABLE", text)
    monkeypatch.setenv("CMSM_ALLOW_EXTERNAL_LINKS", text)
    assert store._group_shared() is True
    assert links.allowed_by_env() is True


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingError, match="CMSM_CACHE_GROUP_WRITABLE='maybe': expected yes or no"):
        Settings({"CMSM_CACHE_GROUP_WRITABLE": "maybe"}).check()
    with pytest.raises(SettingError, match="CMSM_CONTROLLER_STARTED='soon'"):
        Settings({"CMSM_CONTROLLER_STARTED": "soon"}).controller_started  # noqa: B018
    assert Settings({"CMSM_CONTROLLER_STARTED": "12.5"}).controller_started == 12.5
    monkeypatch.setenv("CMSM_ALLOW_EXTERNAL_LINKS", "perhaps")
    code, _, err = cli("find", "detect-os")
    assert code == 1
    assert "cm-snakemake error: CMSM_ALLOW_EXTERNAL_LINKS='perhaps': expected yes or no" in err


def test_names_for_messages_and_the_variables_set_for_others() -> None:
    assert name_of("allow_external_links") == links.ENV_VAR == "CMSM_ALLOW_EXTERNAL_LINKS"
    assert secret_name("ab12") == "CMSM_SECRET_ab12"
    assert Settings({"CMSM_SECRET_ab12": "v"}).secret("ab12") == "v"
    environ: dict[str, str] = {}
    settings.put("controller_started", "12.0", environ)
    assert environ == {"CMSM_CONTROLLER_STARTED": "12.0"}
    with pytest.raises(KeyError):
        settings.put("no_such_setting", "x", environ)


def test_find_stays_lean() -> None:
    """The start-up path of ``find`` imports none of the modules "A lean start-up path" in
    docs/architecture.md keeps off it (a process without site-packages, so that nothing but
    cm_snakemake imports them)."""
    assert cli("find", "--tags=detect,os")[0] == 0  # warm: the index snapshot exists
    heavy = ["re", "typing", "dataclasses", "json", "enum", "pickle", "pathlib", "textwrap"]
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from cm_snakemake.cli.main import main\n"
        "assert main(['find', '--tags=detect,os']) == 0\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
