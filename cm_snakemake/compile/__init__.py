"""The Snakemake side: compiling requests into plan files and one rule per script
(``workflow``, ``cm.smk``), and recovering after a killed controller (``controller``). May
import :mod:`cm_snakemake.runtime` and everything it may."""
