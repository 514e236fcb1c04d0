"""Host facts: what the detection scripts export on a machine, decided once before planning.

The planner treats the exports of ``detect-os`` and ``detect-cpu`` as known values when facts
are given, so OS-dependent branches are planned statically. Facts are collected by running
the bundled detection scripts on the planning machine, or read from a file written by
``cm-snakemake facts`` on the machines that will run the jobs. The plan records the facts it
assumed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import CMSnakemakeError
from ..meta.tags import TagQuery

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._util.reporting import Reporter
    from ..index.scripts import ScriptIndex

__all__ = [
    "FACT_SCRIPTS",
    "collect_facts",
    "host_facts",
    "host_facts_path",
    "load_facts",
    "save_facts",
]

FACT_SCRIPTS = ("detect-os", "detect-cpu")
_FORMAT = 1


def collect_facts(index: ScriptIndex, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run the bundled detection scripts here; return the facts document."""
    import tempfile

    from ..offline.prefetch import python_facts
    from .runner import Runtime

    scripts: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="cmsm-facts-") as work:
        runtime = Runtime(index, reporter=reporter, workdir=work)
        for alias in FACT_SCRIPTS:
            result = runtime.run(TagQuery(), artifact=f"cm-snakemake:{alias}")
            scripts[alias] = {k: str(v) for k, v in result.new_env.items()}
    return {
        "format": _FORMAT,
        "host": os.uname().nodename,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scripts": scripts,
        "python": python_facts(),
    }


def host_facts(
    index: ScriptIndex, reporter: Reporter | None = None, *, refresh: bool = False
) -> dict[str, Any]:
    """This machine's facts, collected once and kept in ``$CMSM_HOME/facts/<host>.json``.

    Plans made on one machine must use the same facts every time, or the keys of the nodes
    that depend on them (and so the cache entries above them) would change from run to run.
    ``cm-snakemake facts --refresh`` collects them again (after an OS upgrade, say).
    """
    path = Path(host_facts_path())
    if not refresh and path.is_file():
        try:
            return load_facts(path)
        except CMSnakemakeError as exc:
            if reporter is not None:
                reporter.note(f"collecting host facts again: {exc.message}")
    facts = collect_facts(index, reporter)
    try:
        save_facts(facts, path)
    except OSError as exc:
        if reporter is not None:
            reporter.note(f"cannot keep host facts in {path} ({exc.strerror})")
    return facts


def host_facts_path() -> str:
    """Where this machine's facts are kept: ``$CMSM_HOME/facts/<host name>.json``."""
    from .._util.settings import settings

    return os.path.join(settings.home, "facts", f"{os.uname().nodename or 'localhost'}.json")


def load_facts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a facts file written by :func:`save_facts`."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CMSnakemakeError(
            f"facts file {file} does not exist",
            hint="Write one with 'cm-snakemake facts --out=FILE' on the target machine.",
        ) from None
    except (OSError, ValueError) as exc:
        raise CMSnakemakeError(f"facts file {file} cannot be read: {exc}") from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict) or data.get("format") != _FORMAT:
        raise CMSnakemakeError(
            f"facts file {file} is not a cm-snakemake facts file (format {_FORMAT})",
            hint="Write it again with 'cm-snakemake facts --out=FILE'.",
        )
    return dict(data)


def save_facts(facts: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a facts document atomically."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}")
    tmp.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, file)
