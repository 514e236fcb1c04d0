"""Planning: CM's resolution as partial evaluation into an immutable Plan. A call
(``calls``) is prepared (``prepare``: CM's phases before the dependencies), its dependencies
decided (``deps``) on a partially known env (``penv``, ``conditions``, ``variations``,
``versions``, ``deplists``, ``merge``), and the result keyed (``keys``) into a
:class:`~cm_snakemake.plan.model.PlanNode` by the ``planner``. Pure: no files, processes or
environment, except ``remembered`` (remembered resolutions of requests) and ``provider``
(the index as the planner's source of scripts). May import :mod:`cm_snakemake.index`,
:mod:`cm_snakemake.meta`, :mod:`cm_snakemake._util` and :mod:`cm_snakemake.errors`."""
