"""Numbers as people read them: four significant digits everywhere hpo shows one (the CLI, the
report, the metrics it keeps in Optuna's attributes for optuna-dashboard), so that 0.974074074
reads 0.9741, an accuracy of 0.8 reads 0.8000 beside it (the digits kept: a column lines up) and
a learning rate 0.000316227766 reads 0.0003162.

Programs get full precision where they ask for it (``--json``, ``--format csv/json``, MLflow's
metrics, the trial's value in Optuna).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DIGITS", "fmt_number", "rounded", "significant"]

DIGITS = 4  # significant digits of every number shown
WHOLE = 1e4  # from here to BIG, a float reads as a whole number (12346, not 1.235e+04)
BIG = 1e9


def significant(value: float, digits: int = DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (NaN and infinities as they are)."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def fmt_number(value: Any, digits: int = DIGITS) -> str:
    """A value as text: a float to ``digits`` significant digits, trailing zeros kept (a whole
    number between 10,000 and a billion), an int as it is, ``-`` for None; anything else by
    ``str``."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        if hasattr(value, "item") and not isinstance(value, bool):  # a numpy scalar
            return fmt_number(value.item(), digits)
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and WHOLE <= abs(value) < BIG:
        return str(round(value))
    return f"{value:#.{digits}g}".removesuffix(".")


def rounded(values: Mapping[str, Any], *, keep: Iterable[str] = ()) -> dict[str, Any]:
    """``values`` with every float at :data:`DIGITS` significant digits, but those of the keys
    in ``keep`` (a decision threshold applied to new data stays exact)."""
    kept = set(keep)
    return {
        k: significant(v) if isinstance(v, float) and k not in kept else v
        for k, v in values.items()
    }
