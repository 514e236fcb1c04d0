"""Script repositories and the index over them: registered repositories (``repos``), links
that leave a repository (``links``), the per-script index with its snapshots (``scripts``),
what a script's files may read and write (``scan``) and CM's search rules (``search``). May
import :mod:`cm_snakemake.meta`, :mod:`cm_snakemake._util` and :mod:`cm_snakemake.errors`."""
