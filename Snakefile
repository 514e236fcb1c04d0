# The workflows of this repository, for `snakemake --profile profiles/local <target>` or
# `snakemake --profile profiles/slurm <target>` run from the repository root (Snakemake reads
# ./Snakefile). Targets: mlperf_all (the default), mlperf_runs, mlperf_results,
# mlperf_submission (workflows/mlperf), and detect (workflows/detect).

include: "workflows/mlperf/Snakefile"
include: "workflows/detect/Snakefile"


rule all:
    # The default target must be declared here: Snakemake ignores default_target in includes.
    default_target: True
    input: rules.mlperf_all.input
