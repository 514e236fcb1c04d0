"""The ``cm-snakemake`` command line."""
