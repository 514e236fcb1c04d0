"""The cache store: entries by script alias and node key, built under a per-key lock and
made complete by a marker written last. May import :mod:`cm_snakemake._util` and
:mod:`cm_snakemake.errors`."""
