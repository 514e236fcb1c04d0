"""The Snakefile side under its established name: ``from cm_snakemake.snake import cm``.

Snakefiles written for earlier releases import ``cm`` from here; the code lives in
:mod:`cm_snakemake.compile.workflow`.
"""

from .compile.workflow import CMWorkflow, cm

__all__ = ["CMWorkflow", "cm"]
