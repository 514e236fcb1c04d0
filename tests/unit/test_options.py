"""Options as data: every command's flags in one table, parsed once, help written from it.

The rules are tested over the tables of every command, so a flag added later follows them
without a test of its own: yes/no flags are off with ``--flag=no`` and ``--flag-``; flags that
take a value take it after ``=`` and say so when it is given as a separate word.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import cm_snakemake
from cm_snakemake.cli.grammar import parse_args
from cm_snakemake.cli.main import _COMMANDS, EveryCommand, NoCommand
from cm_snakemake.cli.options import BOOL, MAPPING, WHOLE, Command, Flag, Group, Options
from cm_snakemake.errors import UsageError
from cm_snakemake.plan.inputs import ENGINE_INPUTS, ENV_FLAG_INPUTS, PLANNED_SEPARATELY

CLI = Path(cm_snakemake.__file__).parent / "cli"


def _commands() -> list[Command[Any]]:
    found: list[Command[Any]] = []
    for module, attr, _ in _COMMANDS.values():
        entry = getattr(importlib.import_module(f"cm_snakemake.cli.{module}"), attr)
        found += list(entry.actions.values()) if isinstance(entry, Group) else [entry]
    return found


COMMANDS = _commands()
FLAGS = [(c, f) for c in COMMANDS for f in c.options.flags]
BOOL_FLAGS = [(c, f) for c, f in FLAGS if f.kind is BOOL]
VALUE_FLAGS = [(c, f) for c, f in FLAGS if f.kind is not BOOL and f.kind is not MAPPING]


def _id(item: tuple[Command[Any], Flag[Any]]) -> str:
    return f"{item[0].name} {item[1].option}"


def _parse(command: Command[Any], *argv: str) -> Any:
    """The options of ``command`` from ``argv`` (Any: each command has its own class)."""
    return command.options.parse(parse_args(list(argv)))


def test_every_command_declares_flags() -> None:
    assert {c.name for c in COMMANDS} >= {"find", "run", "plan", "cache gc", "profile init slurm"}
    assert len(BOOL_FLAGS) > 10 and len(VALUE_FLAGS) > 10


@pytest.mark.parametrize("item", BOOL_FLAGS, ids=[_id(i) for i in BOOL_FLAGS])
def test_every_yes_no_flag_is_off_with_no_and_a_trailing_dash(
    item: tuple[Command[Any], Flag[Any]],
) -> None:
    """``run --dry-run=no`` printed the plan and ``run --json=no`` printed JSON: the command
    read the flag raw a second time. Now every flag is read once, by one rule."""
    command, flag = item
    for name in (flag.name, *flag.aliases):
        option = "--" + name.replace("_", "-")
        offs = [f"{option}{suffix}" for suffix in ("=no", "-", "=false", "=Off", "=0")]
        for off in offs:
            assert getattr(_parse(command, off), flag.name) is False, off
        for on in (option, f"{option}=yes", f"{option}=true", f"{option}=1"):
            assert getattr(_parse(command, on), flag.name) is True, on
    assert getattr(_parse(command), flag.name) is False
    with pytest.raises(UsageError, match=f"{flag.option} expects yes or no, not 'maybe'"):
        _parse(command, f"{flag.option}=maybe")


@pytest.mark.parametrize("item", VALUE_FLAGS, ids=[_id(i) for i in VALUE_FLAGS])
def test_a_value_given_as_a_separate_word_says_how_to_write_it(
    item: tuple[Command[Any], Flag[Any]],
) -> None:
    """``run "detect cpu" --jobs 2`` said "unexpected argument '2' ... Give one alias": CM's
    grammar reads a bare --jobs as true. Every value flag now says ``write --jobs=2``."""
    command, flag = item
    with pytest.raises(UsageError, match=f"{flag.option} needs a value: write {flag.option}=2$"):
        _parse(command, flag.option, "2")
    with pytest.raises(UsageError, match=f"{flag.option} needs a value: {flag.option}="):
        _parse(command, flag.option)
    with pytest.raises(UsageError, match=f"{flag.option} takes a value"):
        _parse(command, f"{flag.option}-")
    assert getattr(_parse(command, f"{flag.option}=2"), flag.name) in ("2", 2, 2.0)


def test_flags_with_dashes_or_underscores_are_one_flag() -> None:
    run = next(c for c in COMMANDS if c.name == "run")
    assert _parse(run, "--dry-run").dry_run is True
    assert _parse(run, "--dry_run").dry_run is True
    assert _parse(run, "--renew").new is True
    assert _parse(run, "--new-", "--renew").new is True


def test_values_are_typed_and_checked() -> None:
    run = next(c for c in COMMANDS if c.name == "run")
    assert _parse(run, "--jobs=4").jobs == 4
    with pytest.raises(UsageError, match="--jobs expects a whole number, not 'four'"):
        _parse(run, "--jobs=four")
    with pytest.raises(UsageError, match="--jobs takes one value"):
        _parse(run, "--jobs,=1,2")
    gc = next(c for c in COMMANDS if c.name == "cache gc")
    assert _parse(gc).older_than == 30
    assert _parse(gc, "--older-than=0.5").older_than == 0.5
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(UsageError, match="--older-than expects a number of days"):
            _parse(gc, f"--older-than={bad}")
    find = next(c for c in COMMANDS if c.name == "find")
    assert _parse(find, "--tags,=detect,os").tags == "detect,os"


def test_options_are_read_only_and_inputs_a_copy() -> None:
    run = next(c for c in COMMANDS if c.name == "run")
    options = _parse(run, "detect os", "--json", "--env.CM_X=1", "--level=3")
    with pytest.raises(AttributeError, match="read-only"):
        options.json = False
    assert options.positional == ("detect os",)
    assert options.inputs == {"env": {"CM_X": "1"}, "level": "3"}
    options.inputs["level"] = "4"
    assert options.inputs["level"] == "3"
    assert options.as_dict()["json"] is True


def test_a_flag_that_is_not_the_commands_own_is_an_error_with_a_suggestion() -> None:
    gc = next(c for c in COMMANDS if c.name == "cache gc")
    with pytest.raises(UsageError, match=r"unknown flag: --dry_rn \(did you mean --dry_run\?\)"):
        _parse(gc, "--dry-rn")
    local = next(c for c in COMMANDS if c.name == "profile init local")
    with pytest.raises(UsageError, match="unknown flag: --partition"):  # only SLURM has it
        _parse(local, "--partition=gpu")


def test_script_inputs_are_checked_against_what_the_script_accepts() -> None:
    run = next(c for c in COMMANDS if c.name == "run")
    options = _parse(run, "x", "--levle=3", "--jsn")
    with pytest.raises(UsageError) as info:
        options.check_inputs({"level", *ENGINE_INPUTS})
    assert "--levle (did you mean --level?)" in str(info.value)
    assert "--jsn (did you mean --json?)" in str(info.value)
    with pytest.raises(UsageError, match=r"--env needs a key: --env\.KEY=VALUE"):
        _parse(run, "x", "--env=1")


def test_the_flags_every_command_has_are_not_script_inputs() -> None:
    """``plan "detect os" --verbose`` planned with the input verbose=True: another node key."""
    args = parse_args(["detect os", "--verbose", "--json"])
    assert EveryCommand.take(args).verbose is True
    run = next(c for c in COMMANDS if c.name == "run")
    assert run.options.parse(args).inputs == {}


@pytest.mark.parametrize("off", ["=no", "-", "=off"])
def test_the_flags_every_command_has_follow_the_same_rule(off: str) -> None:
    for flag in (*EveryCommand.flags, *NoCommand.flags):
        assert getattr(NoCommand.parse(parse_args([flag.option + off])), flag.name) is False
        assert getattr(NoCommand.parse(parse_args([flag.option])), flag.name) is True
    assert EveryCommand.take(parse_args(["--v"])).verbose is True


def test_version_is_a_flag_of_no_command_and_an_input_of_run_and_plan() -> None:
    """``plan X --version=3.9`` failed with "--version expects yes or no": the top level
    read --version for every command."""
    assert NoCommand.parse(parse_args(["--version"])).version is True
    args = parse_args(["detect os", "--version=3.9"])
    EveryCommand.take(args)
    run = next(c for c in COMMANDS if c.name == "run")
    assert run.options.parse(args).inputs == {"version": "3.9"}


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_help_is_written_from_the_table(command: Command[Any]) -> None:
    text = command.usage
    assert text.startswith(f"usage: cm-snakemake {command.name}")
    usage_lines = text.split("\n\n")[0]
    for flag in command.options.flags:
        assert flag.synopsis() in usage_lines
        assert f"  {flag.synopsis()}" in text
        assert " ".join(flag.help.split()[:4]) in " ".join(text.split())
    assert all(len(line) <= 92 for line in text.splitlines()), text


def test_the_help_says_how_values_are_written() -> None:
    run = next(c for c in COMMANDS if c.name == "run")
    assert "--jobs=N (--jobs N is an error)" in " ".join(run.usage.split())
    assert "--dry-run" in run.usage and "--json- or --json=no" in run.usage


def test_each_engine_input_has_one_definition() -> None:
    """``_ENGINE_INPUTS`` was written three times (run, plan, planner) and the three
    differed: ``plan --outdirname=x`` was refused while ``run`` accepted it."""
    for path in CLI.glob("*.py"):
        assert "_ENGINE_INPUTS" not in path.read_text(), path
    assert set(ENV_FLAG_INPUTS) | PLANNED_SEPARATELY <= ENGINE_INPUTS
    from cm_snakemake.plan import prepare

    read_into_env = getattr(prepare, "_INPUT_FLAG_KEYS", ENV_FLAG_INPUTS)
    assert set(read_into_env) <= ENGINE_INPUTS


def test_a_flag_kind_is_its_type() -> None:
    class Demo(Options):
        jobs = Flag(WHOLE, None, "jobs")
        workers = Flag(WHOLE, 4, "workers")

    options = Demo.parse(parse_args(["--jobs=2"]))
    assert (options.jobs, options.workers) == (2, 4)
    assert [f.name for f in Demo.flags] == ["jobs", "workers"]
    with pytest.raises(TypeError, match="lacks flags"):
        Demo({"jobs": 1})
