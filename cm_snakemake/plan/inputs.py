"""The inputs the engine reads itself, as opposed to a script's own inputs.

A script's own inputs reach it through its ``input_mapping``. The engine's inputs are read
by the engine (docs/cm-behaviour.md §3.2); a command line accepts them for every script.
Some of them the plan records in fields of their own (env, const, versions, patches), and a
node's ``inputs`` leave those out; the others (``skip_cache``, ``path``, ...) stay in the
node's inputs and so in its key.
"""

__all__ = [
    "ENGINE_INPUTS",
    "ENV_FLAG_INPUTS",
    "MAPPING_INPUTS",
    "PLANNED_SEPARATELY",
    "VERSION_INPUTS",
]

VERSION_INPUTS = ("version", "version_min", "version_max", "version_max_usable")

PLANNED_SEPARATELY = frozenset(
    {"env", "const", "state", "const_state", "add_deps", "add_deps_recursive", "ad", "adr",
     "tags", "names", "cache_expiration", *VERSION_INPUTS}
)  # fmt: skip
"""Inputs the plan records in fields of their own; a node's ``inputs`` leave them out."""

MAPPING_INPUTS = frozenset(
    {"env", "const", "state", "const_state", "add_deps", "add_deps_recursive", "ad", "adr"}
)
"""Inputs that are mappings of names to values (``--env.KEY=V``, ``--adr.NAME.KEY=V``)."""

ENV_FLAG_INPUTS = ("input", "output", "outdirname", "outbasename", "name", "extra_cache_tags",
                   "skip_compile", "skip_run", "accept_license", "skip_system_deps",
                   "git_ssh", "gh_token")  # fmt: skip
"""Inputs CM copies into the env as ``<PREFIX><NAME>`` (``--input=x``: ``CM_INPUT``)."""

ENGINE_INPUTS = PLANNED_SEPARATELY | frozenset(
    {"skip_cache", "force_cache", "path", "force_new_env_keys", *ENV_FLAG_INPUTS}
)  # fmt: skip
"""Every input the engine reads itself: accepted on the command line for any script."""
