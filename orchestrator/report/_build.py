"""Building the report of a study: read it, rank it, decide what to draw, draw it, write the
page (and the interactive page beside it), and log them with the plots on the study's MLflow
parent run."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import format_duration
from orchestrator.errors import ConfigError, StudyError
from orchestrator.report._activity import study_activity
from orchestrator.report._data import StudyData, load_study_data
from orchestrator.report._html import _img, _render
from orchestrator.report._plots import _draw_plots
from orchestrator.report._ranking import rank_trials
from orchestrator.report._views import plan_plots

if TYPE_CHECKING:
    from collections.abc import Sequence


logger = logging.getLogger(__name__)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    path: Path
    plots: list[str]  # plots drawn, by name
    skipped: dict[str, str]  # plots not drawn, and why
    n_trials: int  # trials in the report's window
    n_total: int
    logged_run_id: str | None  # the MLflow run the report was logged on
    seconds: float
    interactive_path: Path | None = None  # the interactive page, when asked for
    explained: int | None = None  # the trial whose explanation the page shows
    explain_failure: str | None = None  # why the winner was not explained


def interactive_path(out: str | Path) -> Path:
    """Where the interactive page goes beside the static one: ``report.html`` ->
    ``report-interactive.html``."""
    out = Path(out)
    return out.with_name(f"{out.stem}-interactive{out.suffix or '.html'}")


def _check_writable(path: Path) -> None:
    """``path`` can be written: its folder exists (or can be made) and takes new files, or the
    file itself may be overwritten.

    Raises:
        ConfigError: naming the path and why, with the fix.
    """
    import os

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {path}: cannot make its folder {path.parent} ({exc.strerror or exc}); "
            "write the report somewhere you can write"
        ) from exc
    target = path if path.exists() else path.parent
    if path.is_dir() or not os.access(target, os.W_OK):
        why = "is a folder" if path.is_dir() else "is not writable"
        raise ConfigError(f"--out {path}: {target} {why}; write the report somewhere you can write")


def _check_ui_url(ui_url: str | None) -> None:
    from urllib.parse import urlsplit

    from orchestrator.redact import redact_url

    if ui_url is None:
        return
    parts = urlsplit(ui_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"--ui-url {redact_url(ui_url)}: not an http(s) address; give the address of "
            "MLflow's UI, e.g. http://mlflow.lab:5000"
        )


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write it ({exc.strerror or exc})") from exc


def build_report(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    out: str | Path = "report.html",
    since: float | None = None,
    log_to_mlflow: bool = True,
    interactive: bool = False,
    ui_url: str | None = None,
    explain: bool = True,
) -> ReportResult:
    """Write the HTML report of a study and log it on the study's MLflow parent run.

    Args:
        name: the study.
        storage: Optuna storage URL or path; default HPO_STORAGE, else the default journal.
        tracking_uri: MLflow tracking URI; default MLflow's own.
        out: the HTML file to write.
        since: only trials started in the last ``since`` seconds (the morning view of a night).
        log_to_mlflow: also log the page and its plots (``report/``) on the parent run.
        interactive: also write the interactive page (Optuna's plotly figures, plotly.js
            inlined: about 5 MB, works offline) beside ``out`` (see :func:`interactive_path`).
        ui_url: the MLflow UI the trial links open (default: the tracking server's, else the
            local one ``hpo ui`` serves).
        explain: show what the winner looks at (``hpo explain``): its last explanation when it
            is of the winner, else explained now (logged when ``log_to_mlflow``).

    Raises:
        StudyError: no such study, or no trial in the window.
        ConfigError: ``out`` cannot be written, or ``ui_url`` is no http(s) address (said
            before any work).
    """
    started = time.perf_counter()
    out = Path(out)
    _check_ui_url(ui_url)
    for page in (out, interactive_path(out)) if interactive else (out,):
        _check_writable(page)
    data = load_study_data(name, storage=storage, tracking_uri=tracking_uri, since=since)
    data.ui_url = ui_url
    if not data.trials:
        window = f" started in the last {format_duration(since)}" if since else ""
        raise StudyError(
            f"study '{name}' has no trials{window} ({data.n_total} in all); "
            "widen --since or run the study first"
        )
    ranked = rank_trials(data.trials, data.directions)
    plan = plan_plots(data, ranked)
    activity = study_activity(data.trials)
    plots, skipped = _draw_plots(data, ranked, plan)
    figures = {plot: _img(plot, png) for plot, png in plots.items()}
    explained = None
    if explain:
        from orchestrator.report._explain import explain_section, explained_winner

        explained = explained_winner(
            data, ranked, storage=storage, tracking_uri=tracking_uri, log=log_to_mlflow
        )
    section = explain_section(explained, study=name) if explained else None
    page = _render(
        data,
        ranked,
        plan=plan,
        figures=figures,
        skipped=skipped,
        activity=activity,
        explained=section,
    )
    _write(out, page)
    pages = [out]
    if interactive:
        from orchestrator.report._figures import _draw_figures, plotly_bundle

        divs, not_drawn = _draw_figures(data, ranked, plan)
        pages.append(interactive_path(out))
        _write(
            pages[1],
            _render(
                data,
                ranked,
                plan=plan,
                figures=divs,
                skipped=not_drawn,
                activity=activity,
                script=plotly_bundle(),
                kind="interactive",
                explained=section,
            ),
        )
    logged = None
    if log_to_mlflow and data.tracker is not None:
        logged = _log_report(data, pages, plots)
    return ReportResult(
        path=out,
        plots=list(plots),
        skipped=skipped,
        n_trials=len(data.trials),
        n_total=data.n_total,
        logged_run_id=logged,
        seconds=time.perf_counter() - started,
        interactive_path=pages[1] if interactive else None,
        explained=explained.trial if explained and not explained.failure else None,
        explain_failure=explained.failure if explained else None,
    )


def _log_report(data: StudyData, pages: Sequence[Path], plots: dict[str, bytes]) -> str | None:
    tracker = data.tracker
    assert tracker is not None
    parent = data.parent_run_id()
    if parent is None:
        logger.warning("study '%s' has no MLflow parent run: report not logged", data.name)
        return None
    for page in pages:
        tracker.log_file(parent, page, "report")
    with tempfile.TemporaryDirectory() as tmp:
        for plot, png in plots.items():
            (Path(tmp) / f"{plot}.png").write_bytes(png)
        tracker.log_dir(parent, tmp, "report/plots")
    return parent
