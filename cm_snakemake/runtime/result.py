"""What one script run returns to its caller: :class:`NodeResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["NodeResult"]


@dataclass
class NodeResult:
    """What one script run returns to its caller."""

    key: str
    script: str
    new_env: dict[str, Any]
    new_state: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    from_cache: bool = False
    path: str = ""
    deps: list[str] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0
    extra_cache_tags: list[str] = field(default_factory=list)
    secret_keys: list[str] = field(default_factory=list)  # exported secrets not stored

    def to_json(self) -> dict[str, Any]:
        data = {
            "key": self.key,
            "script": self.script,
            "new_env": self.new_env,
            "new_state": self.new_state,
            "version": self.version,
            "from_cache": self.from_cache,
            "path": self.path,
            "deps": self.deps,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "extra_cache_tags": self.extra_cache_tags,
        }
        if self.secret_keys:
            data["secret_keys"] = list(self.secret_keys)
        return data
