"""orchestrator/cli/_options.py: shared options."""

from __future__ import annotations

import datetime as dt


def test_parse_until_is_the_next_occurrence() -> None:
    from orchestrator.cli._options import _parse_until

    now = dt.datetime(2026, 1, 1, 23, 0).timestamp()
    # a time later today is today; an earlier one is tomorrow
    assert _parse_until("23:30", now=now) == dt.datetime(2026, 1, 1, 23, 30).timestamp()
    assert _parse_until("06:00", now=now) == dt.datetime(2026, 1, 2, 6, 0).timestamp()
    assert _parse_until("23:00:30", now=now) == dt.datetime(2026, 1, 1, 23, 0, 30).timestamp()
