"""orchestrator/report/_plots.py: a plot that fails is skipped with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_failed_plot_is_skipped_with_the_first_line(
    multi: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.report import _plots, build_report

    def broken(*args: object) -> None:
        raise ValueError("shapes do not match\n  x: (3,)\n  y: (4,)")

    monkeypatch.setattr(_plots, "_plot_history", broken)
    result = build_report("multi", out=workdir / "multi.html", log_to_mlflow=False, **multi)
    # the report is still written; the reason is the error's type and first line, which the CLI
    # prints on one line ("history: not drawn: ...") and the page shows as a note
    assert result.skipped["history"] == "could not be drawn (ValueError: shapes do not match)"
    assert "history" not in result.plots and "pareto" in result.plots
    page = (workdir / "multi.html").read_text()
    assert "Not drawn: could not be drawn (ValueError: shapes do not match)." in page
