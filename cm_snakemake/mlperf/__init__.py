"""MLPerf inference results: one record per benchmark run, the results table and its plots,
the submission tree and its checker. Used by ``workflows/mlperf`` and ``cm-snakemake results``.
May import :mod:`cm_snakemake._util` and :mod:`cm_snakemake.errors`."""
