"""The inputs the engine reads itself, as opposed to a script's own inputs.

A script's own inputs reach it through its ``input_mapping``. The engine's inputs are read
by the engine (docs/cm-behaviour.md §3.2); a command line accepts them for every script.
Some of them the plan records in fields of their own (env, const, versions, patches), and a
node's ``inputs`` leave those out; the others (``skip_cache``, ``path``, ...) stay in the
node's inputs and so in its key.
"""

__all__ = ["ENGINE_INPUTS", "PLANNED_SEPARATELY", "VERSION_INPUTS"]

VERSION_INPUTS = ("version", "version_min", "version_max", "version_max_usable")

PLANNED_SEPARATELY = frozenset(
    {"env", "const", "state", "const_state", "add_deps", "add_deps_recursive", "ad", "adr",
     "tags", "names", *VERSION_INPUTS}
)  # fmt: skip
"""Inputs the plan records in fields of their own; a node's ``inputs`` leave them out."""

ENGINE_INPUTS = PLANNED_SEPARATELY | frozenset(
    {"skip_cache", "force_cache", "path", "input", "output", "name", "outdirname",
     "outbasename", "extra_cache_tags", "force_new_env_keys"}
)  # fmt: skip
"""Every input the engine reads itself: accepted on the command line for any script."""
