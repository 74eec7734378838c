"""orchestrator/report/_html.py: the page's sections."""

from __future__ import annotations

from pathlib import Path


def test_page_writes_durations_as_everywhere_else(multi: dict[str, str], workdir: Path) -> None:
    from orchestrator.config import format_duration
    from orchestrator.report import build_report

    build_report("multi", out=workdir / "multi.html", since=5400, log_to_mlflow=False, **multi)
    page = (workdir / "multi.html").read_text()
    # the window in the summary, as config.format_duration writes it (and --since reads it)
    assert format_duration(5400) == "1h30m"
    assert "6 of 6: those started in the last 1h30m" in page
    # the compute table: trial time per state, here trials added without running (0s)
    assert '<td class="text">COMPLETE</td><td>6</td><td>0s</td>' in page
