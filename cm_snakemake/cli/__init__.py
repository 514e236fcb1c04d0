"""The ``cm-snakemake`` command line: CM's flag grammar, each command's options declared once,
errors rendered here and only here. May import every other subpackage."""
