"""Private helpers with no domain knowledge: frozen mappings, small records, snapshot files,
the reporter, the settings read from ``CMSM_*`` variables, and the rule that tells secret env
keys. May import only :mod:`cm_snakemake.errors` (and the standard library)."""
