"""Script meta: reading ``_cm.yaml``/``_cm.json``/``meta.yaml`` into keyed plain data
(``metafile``), the typed immutable meta (``model``) and its validating builder (``build``),
the CM/MLC dialects and the tag grammar. May import :mod:`cm_snakemake._util` and
:mod:`cm_snakemake.errors`."""
