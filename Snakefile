# The workflows of this repository, for `snakemake --profile profiles/local <target>` or
# `snakemake --profile profiles/slurm <target>` run from the repository root (Snakemake reads
# ./Snakefile). Targets: detect.

include: "workflows/detect/Snakefile"
