"""Air-gapped runs: a bundle of what a plan fetches (``bundle``), made on a machine with
network (``prefetch``), and used in place of the network by a run (``--offline``). May import
:mod:`cm_snakemake.plan` and everything it may."""
