"""The two meta dialects of script repositories."""

from __future__ import annotations

__all__ = ["Dialect"]


class Dialect(str):
    """``cm`` (``_cm.yaml``/``_cm.json``, ``CM_`` env) or ``mlc`` (``meta.yaml``, ``MLC_``).

    A ``str`` subclass with two instances rather than an ``Enum``: importing ``enum`` costs
    more than a warm ``find``.
    """

    __slots__ = ()
    CM: Dialect
    MLC: Dialect

    def __new__(cls, value: str) -> Dialect:
        if value not in ("cm", "mlc"):
            raise ValueError(f"unknown dialect '{value}' (known: cm, mlc)")
        return super().__new__(cls, value)

    @property
    def value(self) -> str:
        return str(self)

    @property
    def env_prefix(self) -> str:
        return "CM_" if self == "cm" else "MLC_"

    def __reduce__(self) -> tuple[type[Dialect], tuple[str]]:
        return (Dialect, (str(self),))


Dialect.CM = Dialect("cm")
Dialect.MLC = Dialect("mlc")
