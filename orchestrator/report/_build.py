"""Building the report of a study: read it, rank it, draw the plots, write the page, and log the
page with its plots on the study's MLflow parent run."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import format_duration
from orchestrator.errors import StudyError
from orchestrator.report._data import StudyData, load_study_data
from orchestrator.report._html import _render
from orchestrator.report._plots import _draw_plots
from orchestrator.report._ranking import rank_trials

if TYPE_CHECKING:
    from orchestrator.tracking import Tracker


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


def build_report(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    out: str | Path = "report.html",
    since: float | None = None,
    log_to_mlflow: bool = True,
) -> ReportResult:
    """Write the HTML report of a study and log it on the study's MLflow parent run.

    Args:
        name: the study.
        storage: Optuna storage URL or path; default HPO_STORAGE, else the default journal.
        tracking_uri: MLflow tracking URI; default MLflow's own.
        out: the HTML file to write.
        since: only trials started in the last ``since`` seconds (the morning view of a night).
        log_to_mlflow: also log the page and its plots (``report/``) on the parent run.

    Raises:
        StudyError: no such study, or no trial in the window.
    """
    started = time.perf_counter()
    data = load_study_data(name, storage=storage, tracking_uri=tracking_uri, since=since)
    if not data.trials:
        window = f" started in the last {format_duration(since)}" if since else ""
        raise StudyError(
            f"study '{name}' has no trials{window} ({data.n_total} in all); "
            "widen --since or run the study first"
        )
    ranked = rank_trials(data.trials, data.directions)
    plots, skipped = _draw_plots(data, ranked)
    page = _render(data, ranked, plots, skipped)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    logged = None
    if log_to_mlflow and data.tracker is not None:
        logged = _log_report(data, out, plots)
    return ReportResult(
        path=out,
        plots=list(plots),
        skipped=skipped,
        n_trials=len(data.trials),
        n_total=data.n_total,
        logged_run_id=logged,
        seconds=time.perf_counter() - started,
    )


def _log_report(data: StudyData, page: Path, plots: dict[str, bytes]) -> str | None:
    tracker = data.tracker
    assert tracker is not None
    parent = data.study.user_attrs.get("hpo.mlflow_parent_run_id")
    if parent is None or not _run_exists(tracker, parent):
        parent = tracker.find_parent_run(data.name)
    if parent is None:
        logger.warning("study '%s' has no MLflow parent run: report not logged", data.name)
        return None
    tracker.log_file(parent, page, "report")
    with tempfile.TemporaryDirectory() as tmp:
        for plot, png in plots.items():
            (Path(tmp) / f"{plot}.png").write_bytes(png)
        tracker.log_dir(parent, tmp, "report/plots")
    return parent


def _run_exists(tracker: Tracker, run_id: str) -> bool:
    try:
        return tracker.client.get_run(run_id).info.experiment_id == tracker.experiment_id
    except Exception:
        return False
