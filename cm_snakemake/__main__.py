"""``python -m cm_snakemake`` runs the command line."""

from cm_snakemake.cli.main import entry_point

entry_point()
