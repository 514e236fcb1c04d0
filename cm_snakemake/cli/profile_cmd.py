"""``profile init``: write a Snakemake profile for a site.

The templates here are the only source of the SLURM profile: the repository's
``profiles/slurm/config.yaml`` is what ``cm-snakemake profile init slurm --out=profiles/slurm``
writes (a test checks that they are equal), so a change to one is a change to both.
"""

from __future__ import annotations

import os

from ..errors import EXIT_OK, UsageError
from .options import BOOL, PATH, TEXT, WHOLE, Command, Flag, Group, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["PROFILE", "LocalOptions", "SlurmOptions", "local_profile", "slurm_profile"]

_COMMENT_COLUMN = 30  # where the comments after values start

_SLURM = """\
# Snakemake profile for CM workflows on {site} (snakemake-executor-plugin-slurm):
#     snakemake --profile {out} <target>
# Written by:
#     {command}
# Site admins: write a site profile with `cm-snakemake profile init slurm --partition=X
# --account=Y [--out=DIR]` and adjust it.
executor: slurm
jobs: {jobs}  # jobs in the queue at once
latency-wait: 60  # seconds to wait for outputs on a shared file system
rerun-incomplete: true
# Snakemake's default ILP scheduler slows down sharply with thousands of ready jobs;
# greedy keeps large CM plans fast (benchmarks/bench_load.py).
scheduler: greedy
retries: {retries}  # times a failed or cancelled job is resubmitted
keep-going: true
# The shape of a CM workflow on the cluster:
# * scripts that fetch from the network (downloads, git clones, pip installs) run on the
#   submit host, as compute nodes often have no network; cheap detection scripts too
#   (`localrule` in the generated rules);
# * short jobs (the group cm-tiny: detection run as jobs, scripts declaring a runtime of at
#   most 10 minutes) go out {group} connected sets per cluster job; a group job asks for the
#   CPUs its members use at once, so keep this at most the CPUs of a node;
# * the MLPerf workflow's benchmark matrix goes out as one job array (one sbatch).
# To run detection on the compute nodes (their facts differ from the submit host's), or the
# network scripts there (they have network), or every short job on its own, uncomment:
# config: ["cm_localrules=false", "cm_network_on_submit_host=false", "cm_group_tiny=false"]
group-components: ["cm-tiny={group}"]
slurm-array-jobs: cm_app_mlperf_inference_onnx
default-resources:
  slurm_partition: {partition}  # the partition; empty means the cluster's default
  slurm_account: {account}  # the account, where the cluster needs one
  mem_mb: {mem_mb}
  runtime: {runtime}  # minutes
{status}"""
_SQUEUE = """\
# Clusters without accounting (no slurmdbd) cannot answer `sacct`: poll with squeue instead.
# squeue only sees jobs for MinJobAge seconds (slurm.conf). The plugin's poll interval grows
# by 10 s while no job completes, up to 180 s, so this needs MinJobAge above 180 s (Slurm's
# default is 300); a job gone from squeue before it is polled is never seen to finish.
slurm-status-command: squeue
slurm-init-seconds-before-status-checks: 10
seconds-between-status-checks: 10
"""
_SACCT = """\
# The cluster runs slurmdbd: job states come from sacct (the plugin's default).
"""
_LOCAL = """\
# Snakemake profile for CM workflows on this machine, written by: {command}
cores: {cores}
rerun-incomplete: true
scheduler: greedy  # fast with thousands of ready jobs (ILP is not)
default-resources:
  mem_mb: {mem_mb}
  runtime: {runtime}
"""


class _ProfileOptions(Options):
    out = Flag(
        PATH,
        None,
        "the profile's folder, for DIR/config.yaml (default: profiles/site "
        "for SLURM, profiles/local for this machine)",
        metavar="DIR",
    )
    mem_mb = Flag(WHOLE, 1000, "memory of a job whose script declares none, in MB")
    runtime = Flag(
        WHOLE, 60, "time limit of a job whose script declares none, in minutes", metavar="MIN"
    )


class SlurmOptions(_ProfileOptions):
    """The flags of ``profile init slurm``."""

    partition = Flag(TEXT, "", "the partition (empty: the cluster's default)", metavar="P")
    account = Flag(TEXT, "", "the account, where the cluster needs one", metavar="A")
    jobs = Flag(WHOLE, 50, "jobs in the queue at once")
    retries = Flag(WHOLE, 1, "times a failed or cancelled job is resubmitted")
    group = Flag(WHOLE, 4, "connected sets of short jobs (group cm-tiny) per cluster job",
                 metavar="N")  # fmt: skip
    accounting = Flag(
        BOOL,
        False,
        "the cluster runs slurmdbd: poll job states with sacct (the plugin's default), not squeue",
    )
    site = Flag(
        TEXT, "a SLURM cluster", "the site, as the profile's first line names it", metavar="NAME"
    )


class LocalOptions(_ProfileOptions):
    """The flags of ``profile init local``."""

    cores = Flag(TEXT, "all", "cores Snakemake may use: a number or all", metavar="N")


def _command_line(kind: str, options: Options) -> str:
    """The command that writes this profile: the flags that differ from their defaults."""
    import shlex

    words = ["cm-snakemake", "profile", "init", kind]
    for flag in options.flags:
        value = getattr(options, flag.name)
        if value != flag.default:
            words.append(flag.option if flag.is_bool else f"{flag.option}={value}")
    return shlex.join(words)


def _aligned(text: str) -> str:
    """``key: value  # comment`` lines with their comments in one column."""
    lines = []
    for line in text.splitlines():
        code, sep, comment = line.partition("  # ")
        inline = sep and not line.lstrip().startswith("#")
        lines.append(f"{code:<{_COMMENT_COLUMN - 2}}  # {comment}" if inline else line)
    return "\n".join(lines) + "\n"


def _out(options: _ProfileOptions, default: str) -> str:
    return options.out or os.path.join("profiles", default)


def slurm_profile(options: SlurmOptions) -> str:
    """The text of the SLURM profile these options describe."""
    import json

    text = _SLURM.format(
        site=options.site,
        command=_command_line("slurm", options),
        out=_out(options, "site"),
        jobs=options.jobs,
        retries=options.retries,
        group=options.group,
        mem_mb=options.mem_mb,
        runtime=options.runtime,
        partition=json.dumps(options.partition),
        account=json.dumps(options.account),
        status=_SACCT if options.accounting else _SQUEUE,
    )
    return _aligned(text)


def local_profile(options: LocalOptions) -> str:
    """The text of the profile for this machine these options describe."""
    if options.cores != "all" and not (options.cores.isascii() and options.cores.isdigit()):
        raise UsageError(f"--cores expects a whole number or 'all', not '{options.cores}'")
    text = _LOCAL.format(
        command=_command_line("local", options),
        cores=options.cores,
        mem_mb=options.mem_mb,
        runtime=options.runtime,
    )
    return _aligned(text)


def _write(text: str, out: str, ctx: Context) -> int:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {path}; use it with: snakemake --profile {out} <target>", file=ctx.out)
    return EXIT_OK


def _no_words(options: Options, kind: str) -> None:
    if options.positional:
        raise UsageError(
            f"unknown profile kind '{kind} {options.positional[0]}' (known: slurm, local)",
            hint=PROFILE.usage,
        )


def _slurm(options: SlurmOptions, ctx: Context) -> int:
    _no_words(options, "slurm")
    return _write(slurm_profile(options), _out(options, "site"), ctx)


def _local(options: LocalOptions, ctx: Context) -> int:
    _no_words(options, "local")
    return _write(local_profile(options), _out(options, "local"), ctx)


PROFILE = Group(
    "profile",
    about="""Write a Snakemake profile: DIR/config.yaml. A SLURM profile polls job states with
squeue unless --accounting says the cluster runs slurmdbd (then the plugin's default, sacct,
is used). The repository's profiles/slurm is the one 'profile init slurm --out=profiles/slurm'
writes.""",
    actions=[
        Command("profile init slurm", _slurm, SlurmOptions,
                about="a profile for a SLURM cluster (snakemake-executor-plugin-slurm)"),
        Command("profile init local", _local, LocalOptions,
                about="a profile for this machine"),
    ],
)  # fmt: skip
