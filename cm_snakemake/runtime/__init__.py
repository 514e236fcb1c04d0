"""Running scripts with CM's semantics: the :class:`~cm_snakemake.runtime.runner.Runtime`
runs prepared nodes (``script_run``: the stage sequence on live values), with ``customize.py``
hooks (``hooks``, ``automation``, ``compat``: the ``cmind``/``mlc`` modules scripts import),
native scripts (``native``), exports (``exports``), the cache, and host facts (``facts``).
May import :mod:`cm_snakemake.plan`, :mod:`cm_snakemake.cache`, :mod:`cm_snakemake.offline`
(the bundle of an offline run) and everything they may."""
