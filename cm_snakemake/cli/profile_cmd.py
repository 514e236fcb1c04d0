"""``profile init``: write a Snakemake profile for a site."""

from __future__ import annotations

import os

from ..errors import EXIT_OK, UsageError
from .main import Command, Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .grammar import Args

__all__ = ["PROFILE"]

_SLURM = """\
# Snakemake profile for CM workflows on {site} (written by cm-snakemake profile init).
#     snakemake --profile {out} <target>
executor: slurm
jobs: {jobs}
latency-wait: 60
rerun-incomplete: true
scheduler: greedy            # fast with thousands of ready jobs (ILP is not)
retries: {retries}
keep-going: true
default-resources:
  slurm_partition: "{partition}"
  slurm_account: "{account}"
  mem_mb: {mem_mb}
  runtime: {runtime}
{status}"""
_SQUEUE = """\
# No accounting on this cluster: poll with squeue (jobs stay visible for MinJobAge seconds).
slurm-status-command: squeue
slurm-init-seconds-before-status-checks: 10
seconds-between-status-checks: 10
"""
_LOCAL = """\
# Snakemake profile for CM workflows on this machine (written by cm-snakemake profile init).
cores: {cores}
rerun-incomplete: true
scheduler: greedy            # fast with thousands of ready jobs (ILP is not)
default-resources:
  mem_mb: {mem_mb}
  runtime: {runtime}
"""


def _profile(args: Args, ctx: Context) -> int:
    if len(args.positional) != 2 or args.positional[0] != "init":
        raise UsageError(
            "usage: cm-snakemake profile init slurm|local [--flags]", hint=PROFILE.usage
        )
    kind = args.positional[1]
    out = args.take_str("out") or os.path.join("profiles", "site" if kind == "slurm" else "local")
    values = {
        "partition": args.take_str("partition") or "",
        "account": args.take_str("account") or "",
        "mem_mb": args.take_str("mem_mb") or "1000",
        "runtime": args.take_str("runtime") or "60",
        "jobs": args.take_str("jobs") or "50",
        "retries": args.take_str("retries") or "1",
        "cores": args.take_str("cores") or "all",
        "out": out,
        "site": args.take_str("site") or "this site",
    }
    accounting = args.take_bool("accounting")
    args.check_consumed()
    for name in ("mem_mb", "runtime", "jobs", "retries"):
        if not values[name].isdigit():
            raise UsageError(f"--{name} expects a whole number, not '{values[name]}'")
    if kind == "slurm":
        text = _SLURM.format(**values, status="" if accounting else _SQUEUE)
    elif kind == "local":
        text = _LOCAL.format(**values)
    else:
        raise UsageError(f"unknown profile kind '{kind}' (known: slurm, local)")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {path}; use it with: snakemake --profile {out} <target>", file=ctx.out)
    return EXIT_OK


PROFILE = Command(
    _profile,
    """usage: cm-snakemake profile init slurm [--partition=P] [--account=A] [--mem-mb=N]
                                  [--runtime=MIN] [--jobs=N] [--retries=N] [--accounting]
                                  [--out=DIR]
       cm-snakemake profile init local [--cores=N] [--out=DIR]

Write a Snakemake profile (DIR/config.yaml; default profiles/site or profiles/local).
A SLURM profile polls job states with squeue unless --accounting says the cluster runs
slurmdbd (then the plugin's default, sacct, is used).""",
)
