"""Durations as people write and read them: ``90s``, ``30m``, ``8h``, ``1h30m``, ``2d``.

Importing this module is free (no pydantic, no torch): the CLI's options and the report use it.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration: ``90``, ``"90s"``, ``"30m"``, ``"8h"``, ``"1h30m"``, ``"2d"``.

    Raises:
        ValueError: with the value received and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90s, 30m or 8h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
                raise ValueError(
                    f"expected a duration such as 90s, 30m, 8h or 1h30m, got {value!r}"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``: a duration for people to read (the inverse of
    :func:`parse_duration`, rounded to the second)."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
