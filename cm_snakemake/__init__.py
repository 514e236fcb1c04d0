"""cm_snakemake: MLCommons CM automation scripts, compiled into Snakemake workflows."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
