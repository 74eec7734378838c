"""Leaderboards and the HTML report of a study: what ran, what won, and why.

:func:`leaderboard` ranks the trials of a study into a pandas DataFrame, one row per trial, and
:func:`format_leaderboard` writes it as a table, CSV, JSON or Markdown. :func:`build_report` writes
one self-contained HTML page (every plot inlined as a PNG: nothing is fetched when it opens) and
logs it, with the plots as images, on the study's MLflow parent run.

Ranking (:func:`rank_trials`): with one objective, COMPLETE trials by their value (rank 1 is the
best), then PRUNED trials by their last reported value, then the rest by number, without a rank.
With several objectives, COMPLETE trials by Pareto front (rank 1 is the Pareto front, rank 2 the
front once the first is set aside, ...), ties by the first objective; the others follow unranked.

Both read the Optuna study for both kinds (``study.directions``, ``trial.values``,
``study.best_trials``) and MLflow, where it exists, for what only MLflow has: per-epoch curves and,
for trials that did not record them, the validation metrics of their best epoch.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import math
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import ConfigError, StudyError
from orchestrator.names import REPORT_FORMATS, TRIAL_STATES

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial

    from orchestrator.tracking import Tracker

__all__ = [
    "FORMATS",
    "STATES",
    "VAL_METRICS",
    "ReportResult",
    "StudyData",
    "build_report",
    "format_leaderboard",
    "leaderboard",
    "load_study_data",
    "objective_names",
    "pareto_ranks",
    "rank_trials",
]

logger = logging.getLogger(__name__)

Format = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[str, ...] = REPORT_FORMATS
STATES = TRIAL_STATES
VAL_METRICS = ("val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1")
CURVE_METRICS = ("train_loss", *VAL_METRICS)
TOP_CURVES = 5  # learning curves drawn for this many of the best trials
TOP_TABLE = 10  # rows of the leaderboard shown in the report
MAX_PLOT_PARAMS = 8  # parallel coordinates and slice plots: the most important parameters
DPI = 100
MULTI_OBJECTIVE_PRUNING_NOTE = (
    "Pruning is off in this study: a pruner stops a trial by comparing one intermediate value "
    "with other trials', and with several objectives there is no single value to compare, so "
    "Optuna does not support pruning multi-objective trials. Every trial ran to its end."
)


# --- the study as read back --------------------------------------------------------------------


@dataclass
class StudyData:
    """A study as the leaderboard and the report read it.

    ``trials`` are those of the time window (all of them without ``since``), every state;
    ``tracker`` is None when the study's MLflow experiment cannot be found.
    """

    study: optuna.Study
    trials: list[FrozenTrial]
    metrics: list[str]
    directions: list[str]
    n_total: int
    since: float | None = None
    tracker: Tracker | None = None
    runs: dict[str, Any] = field(default_factory=dict)  # MLflow run id -> Run (trial runs)
    _histories: dict[int, dict[str, dict[int, float]]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    def histories(self, trial: FrozenTrial) -> dict[str, dict[int, float]]:
        """The per-epoch metrics of a trial from MLflow (cached), or {} when there are none."""
        if trial.number not in self._histories:
            run_id = trial.user_attrs.get("mlflow_run_id")
            histories: dict[str, dict[int, float]] = {}
            if self.tracker is not None and run_id in self.runs:
                histories = self.tracker.metric_histories(run_id, CURVE_METRICS)
            self._histories[trial.number] = histories
        return self._histories[trial.number]


def objective_names(study: optuna.Study) -> list[str]:
    """The names of a study's objectives: ``hpo.metrics``, else ``hpo.metric``, else Optuna's
    metric names, else ``objective_0``, ``objective_1``, ..."""
    n = len(study.directions)
    names = study.user_attrs.get("hpo.metrics")
    if not names and n == 1 and study.user_attrs.get("hpo.metric"):
        names = [study.user_attrs["hpo.metric"]]
    if not names:
        names = study.metric_names
    names = [str(m) for m in names or []]
    if len(names) != n:
        names = [f"objective_{i}" for i in range(n)]
    return names


def load_study_data(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    since: float | None = None,
    use_mlflow: bool = True,
) -> StudyData:
    """Read a study (its trials started in the last ``since`` seconds, or all) and its MLflow runs.

    Raises:
        StudyError: no such study.
    """
    from orchestrator.study import load_study

    study = load_study(name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    n_total = len(trials)
    if since is not None:
        start = dt.datetime.now() - dt.timedelta(seconds=since)
        trials = [t for t in trials if t.datetime_start is not None and t.datetime_start >= start]
    data = StudyData(
        study=study,
        trials=sorted(trials, key=lambda t: t.number),
        metrics=objective_names(study),
        directions=[d.name.lower() for d in study.directions],
        n_total=n_total,
        since=since,
    )
    if use_mlflow:
        from orchestrator.tracking import Tracker

        data.tracker = Tracker.open_existing(name, tracking_uri=tracking_uri)
        if data.tracker is not None:
            data.runs = data.tracker.runs_by_id()
    return data


# --- ranking -----------------------------------------------------------------------------------


def pareto_ranks(values: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Non-dominated sorting: 1 for the Pareto front, 2 for the front once it is set aside, ...

    A point dominates another when it is at least as good on every objective and better on one;
    equal points share a front.
    """
    import numpy as np

    if not len(values):
        return []
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = np.asarray(values, dtype=float) * signs  # everything minimised from here on
    ranks = np.zeros(len(points), dtype=int)
    remaining = np.arange(len(points))
    rank = 0
    while remaining.size:
        rank += 1
        p = points[remaining]
        no_worse = (p[:, None, :] <= p[None, :, :]).all(axis=2)  # [j, i]: j no worse than i
        better = (p[:, None, :] < p[None, :, :]).any(axis=2)
        dominated = (no_worse & better).any(axis=0)
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
    return ranks.tolist()


def rank_trials(
    trials: Sequence[FrozenTrial], directions: Sequence[str]
) -> list[tuple[int | None, FrozenTrial]]:
    """Trials best first, each with its rank (None for trials that are not ranked).

    One objective: COMPLETE by value, then PRUNED by their last value (ranked after them), then
    the rest by number. Several: COMPLETE by Pareto front, then by the first objective; then the
    rest by number.
    """
    from optuna.trial import TrialState

    sign = -1.0 if directions[0] == "maximize" else 1.0
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    others = [t for t in trials if t not in complete]
    if len(directions) > 1:
        fronts = pareto_ranks([t.values for t in complete], directions)
        order = sorted(
            zip(fronts, complete, strict=True),
            key=lambda ft: (ft[0], sign * ft[1].values[0], ft[1].number),
        )
        ranked: list[tuple[int | None, FrozenTrial]] = list(order)
    else:
        complete.sort(key=lambda t: (sign * t.values[0], t.number))
        ranked = [(i + 1, t) for i, t in enumerate(complete)]
        pruned = [t for t in others if t.state == TrialState.PRUNED and t.value is not None]
        pruned.sort(key=lambda t: (sign * t.value, t.number))
        ranked += [(len(ranked) + i + 1, t) for i, t in enumerate(pruned)]
        others = [t for t in others if t not in pruned]
    ranked += [(None, t) for t in sorted(others, key=lambda t: t.number)]
    return ranked


# --- the leaderboard ---------------------------------------------------------------------------


def _duration(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _epochs_run(trial: FrozenTrial, histories: dict[str, dict[int, float]]) -> int | None:
    if "epochs_run" in trial.user_attrs:
        return int(trial.user_attrs["epochs_run"])
    if trial.intermediate_values:
        return len(trial.intermediate_values)
    steps = histories.get("val_loss") or histories.get("train_loss")
    return len(steps) if steps else None


def _val_metrics(data: StudyData, trial: FrozenTrial) -> dict[str, float]:
    """The validation metrics of the trial's best epoch (its last one if it did not complete).

    Recorded on the trial (``best_metrics``) by current versions; read from MLflow otherwise.
    """
    recorded = trial.user_attrs.get("best_metrics")
    if recorded:
        return {k: float(recorded[k]) for k in VAL_METRICS if k in recorded}
    histories = data.histories(trial)
    if not histories:
        return {}
    epoch = trial.user_attrs.get("best_epoch")
    out = {}
    for key in VAL_METRICS:
        steps = histories.get(key)
        if steps:
            out[key] = steps.get(epoch, steps[max(steps)]) if epoch else steps[max(steps)]
    return out


def leaderboard(
    data: StudyData, *, top: int | None = None, states: Sequence[str] | None = None
) -> pd.DataFrame:
    """The trials of ``data`` ranked (see :func:`rank_trials`), one row each.

    Columns: ``rank``, ``trial``, ``state``, the objective (``objective``; with several,
    ``objective.<name>`` each and ``pareto``), the best epoch's ``val_*`` metrics, ``best_epoch``,
    ``epochs``, ``n_parameters``, ``duration_s``, every sampled parameter as ``params.<name>``,
    ``fail_reason`` and ``mlflow_run_id``.

    Args:
        data: from :func:`load_study_data`.
        top: keep the first ``top`` rows (after the state filter).
        states: keep trials in these states (COMPLETE, PRUNED, FAIL, RUNNING, WAITING).
    """
    import pandas as pd

    ranked = rank_trials(data.trials, data.directions)
    if states:
        wanted = {s.upper() for s in states}
        ranked = [(r, t) for r, t in ranked if t.state.name in wanted]
    if top is not None:
        ranked = ranked[:top]
    param_names = _param_names(data.trials)
    multi = data.is_multi_objective
    rows = []
    for rank, trial in ranked:
        row: dict[str, Any] = {"rank": rank, "trial": trial.number, "state": trial.state.name}
        if multi:
            for i, metric in enumerate(data.metrics):
                row[f"objective.{metric}"] = trial.values[i] if trial.values else None
            row["pareto"] = bool(rank == 1 and trial.state.name == "COMPLETE")
        else:
            row["objective"] = trial.value
        row.update({k: None for k in VAL_METRICS})
        row.update(_val_metrics(data, trial))
        row["best_epoch"] = trial.user_attrs.get("best_epoch")
        row["epochs"] = _epochs_run(trial, data._histories.get(trial.number, {}))
        row["n_parameters"] = trial.user_attrs.get("n_parameters")
        row["duration_s"] = _duration(trial)
        row.update({f"params.{p}": trial.params.get(p) for p in param_names})
        row["fail_reason"] = trial.user_attrs.get("fail_reason")
        row["mlflow_run_id"] = trial.user_attrs.get("mlflow_run_id")
        rows.append(row)
    columns = ["rank", "trial", "state"]
    if multi:
        columns += [f"objective.{m}" for m in data.metrics] + ["pareto"]
    else:
        columns += ["objective"]
    columns += [*VAL_METRICS, "best_epoch", "epochs", "n_parameters", "duration_s"]
    columns += [f"params.{p}" for p in param_names] + ["fail_reason", "mlflow_run_id"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rank", "best_epoch", "epochs", "n_parameters"):
        frame[column] = frame[column].astype("Int64")
    for column in columns:
        if column.startswith("params."):  # as sampled: an int stays an int beside missing values
            frame[column] = pd.Series([row[column] for row in rows], dtype=object)
    return frame


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """For reading (table, Markdown, HTML): empty columns dropped, numbers rounded, blanks as -."""
    shown = frame.dropna(axis=1, how="all").copy()
    for column in shown.columns:
        shown[column] = shown[column].map(lambda v, c=column: _cell(c, v))
    return shown


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    try:
        import pandas as pd

        if value is pd.NA:
            return "-"
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, bool):
        return ("yes" if value else "") if column == "pareto" else str(value).lower()
    if isinstance(value, float):
        if column == "duration_s":
            return f"{value:.1f}"
        if column.startswith("params."):
            return f"{value:.4g}"
        return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.4f}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_leaderboard(frame: pd.DataFrame, fmt: Format = "table") -> str:
    """The leaderboard as text: ``table`` and ``markdown`` for reading (empty columns dropped,
    numbers rounded), ``csv`` and ``json`` for programs (every column, full precision).

    Raises:
        ConfigError: an unknown format.
    """
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2) + "\n"
    if fmt not in ("table", "markdown"):
        raise ConfigError(f"--format: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if frame.empty:
        return "(no trials)\n"
    shown = _display(frame)
    if fmt == "table":
        return shown.to_string(index=False) + "\n"
    header = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


# --- the report --------------------------------------------------------------------------------


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
        window = f" started in the last {_hms(since)}" if since else ""
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


# --- plots -------------------------------------------------------------------------------------

PLOT_TITLES = {
    "history": "Optimization history",
    "importances": "Parameter importances",
    "parallel": "Parallel coordinates",
    "slice": "Slice plots",
    "curves": "Learning curves of the top trials",
    "pareto": "Pareto front",
}


def _draw_plots(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every plot as PNG bytes, by name; a plot that cannot be drawn is skipped with the reason."""
    import matplotlib.pyplot as plt
    import optuna

    view = _view_study(data)
    n_complete = sum(1 for t in data.trials if t.state.name == "COMPLETE")
    target = (lambda t: t.values[0]) if data.is_multi_objective else None
    params = _plot_params(view, data, target)
    n_params = len(_param_names(data.trials))
    drawers: dict[str, Callable[[], Figure]] = {
        "history": lambda: _plot_history(data, ranked),
        # several objectives: one bar per objective, named by the view's metric names
        "importances": lambda: _optuna_plot(
            optuna.visualization.matplotlib.plot_param_importances,
            view,
            # a bar per parameter (per objective): the height grows with them
            size=(9.0, max(4.5, 0.28 * n_params * len(data.metrics) + 1.5)),
            target_name=None if data.is_multi_objective else data.metrics[0],
        ),
        "parallel": lambda: _optuna_plot(
            optuna.visualization.matplotlib.plot_parallel_coordinate,
            view,
            size=(12.0, 5.0),
            params=params,
            target=target,
            target_name=data.metrics[0],
        ),
        "slice": lambda: _plot_slice(data, params),
        "curves": lambda: _plot_curves(data, ranked),
    }
    if data.is_multi_objective:
        drawers["pareto"] = lambda: _plot_pareto(view, data)
    needs = {"importances": 2, "parallel": 2}
    plots: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    for plot, draw in drawers.items():
        if n_complete < needs.get(plot, 1):
            skipped[plot] = (
                f"needs at least {needs.get(plot, 1)} completed trials, got {n_complete}"
            )
            continue
        # Optuna's plots switch the global style (ggplot): keep every plot's settings to itself
        with plt.rc_context():
            try:
                plots[plot] = _png(draw())
            except _NothingToPlot as exc:
                skipped[plot] = str(exc)
            except Exception as exc:  # one plot must not cost the whole report
                logger.warning("plot %s failed: %s", plot, exc, exc_info=logger.isEnabledFor(10))
                skipped[plot] = f"could not be drawn ({type(exc).__name__}: {exc})"
            finally:
                plt.close("all")
    return plots, skipped


class _NothingToPlot(Exception):
    """A plot with nothing to show (no curves logged, too many objectives)."""


def _view_study(data: StudyData) -> optuna.Study:
    """What Optuna's plots read: the study itself, or an in-memory copy holding the trials of the
    window (and, with several objectives, their names, which label the plots)."""
    import optuna
    from optuna.trial import TrialState

    if data.since is None and not data.is_multi_objective:
        return data.study
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        view = optuna.create_study(directions=data.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    if data.is_multi_objective:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is experimental
            view.set_metric_names(data.metrics)
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    view.add_trials([t for t in data.trials if t.state in finished])
    return view


def _param_names(trials: Sequence[FrozenTrial]) -> list[str]:
    """Every parameter sampled by any of ``trials``, in order of first appearance."""
    names: list[str] = []
    for trial in sorted(trials, key=lambda t: t.number):
        names += [p for p in trial.params if p not in names]
    return names


def _plot_params(
    view: optuna.Study, data: StudyData, target: Callable[[FrozenTrial], float] | None
) -> list[str]:
    """The parameters worth a parallel-coordinates and a slice plot: the most important ones."""
    import optuna

    names = _param_names([t for t in data.trials if t.state.name == "COMPLETE"])
    if len(names) <= MAX_PLOT_PARAMS:
        return names
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(view, target=target)
        return list(importances)[:MAX_PLOT_PARAMS]
    except Exception as exc:
        logger.debug("importances unavailable (%s); plotting the first parameters", exc)
        return names[:MAX_PLOT_PARAMS]


def _optuna_plot(
    function: Callable[..., Any],
    study: optuna.Study,
    *,
    size: tuple[float, float] = (9.0, 4.5),
    **kwargs: Any,
) -> Figure:
    import numpy as np

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning on every matplotlib plot
        axes = function(study, **kwargs)
    figure = np.ravel(axes)[0].figure
    figure.set_size_inches(*size)
    return figure


def _new_figure(ncols: int = 1, *, width: float = 10.0, height: float = 4.5) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return figure, axes[0]


def _plot_history(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]) -> Figure:
    """Each objective per trial number: completed trials, pruned ones at their last value, and
    the best so far (one objective) or the Pareto front highlighted (several)."""
    from matplotlib.ticker import MaxNLocator
    from optuna.trial import TrialState

    n = len(data.metrics)
    figure, axes = _new_figure(n, width=max(8.0, 5.0 * n))
    front = {t.number for r, t in ranked if r == 1 and t.state == TrialState.COMPLETE}
    complete = [t for t in data.trials if t.state == TrialState.COMPLETE and t.values]
    pruned = [t for t in data.trials if t.state == TrialState.PRUNED and t.value is not None]
    for i, (ax, metric, direction) in enumerate(
        zip(axes, data.metrics, data.directions, strict=True)
    ):
        xs = [t.number for t in complete]
        ys = [t.values[i] for t in complete]
        ax.scatter(xs, ys, s=18, color="tab:blue", label="complete", zorder=3)
        if pruned and n == 1:
            ax.scatter(
                [t.number for t in pruned],
                [t.value for t in pruned],
                s=18,
                marker="x",
                color="tab:gray",
                label="pruned (last value)",
                zorder=2,
            )
        if n == 1 and complete:
            best, line = None, []
            for trial in complete:
                value = trial.values[0]
                if best is None or (value > best if direction == "maximize" else value < best):
                    best = value
                line.append(best)
            ax.step(xs, line, where="post", color="tab:red", label="best so far", zorder=4)
        if n > 1 and front:
            pts = [(t.number, t.values[i]) for t in complete if t.number in front]
            ax.scatter(
                *zip(*pts, strict=True),
                s=40,
                facecolors="none",
                edgecolors="tab:red",
                label="Pareto front",
                zorder=4,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{metric} ({direction})")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    figure.suptitle(f"Optimization history: {data.name}")
    return figure


def _plot_slice(data: StudyData, params: Sequence[str]) -> Figure:
    """The first objective against each parameter, a panel per parameter, coloured by trial."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator, NullFormatter
    from optuna.distributions import CategoricalDistribution, IntDistribution

    trials = [t for t in data.trials if t.state.name == "COMPLETE" and t.values]
    if not params:
        raise _NothingToPlot("no parameter was sampled")
    cols = min(4, len(params))
    rows = math.ceil(len(params) / cols)
    figure, axes = plt.subplots(
        rows, cols, figsize=(3.3 * cols + 1.2, 2.9 * rows + 0.5), squeeze=False, sharey=True
    )
    norm = Normalize(min(t.number for t in trials), max(max(t.number for t in trials), 1))
    scatter = None
    for ax, name in zip(axes.flat, params, strict=False):
        having = [t for t in trials if name in t.params]
        dist = having[0].distributions[name] if having else None
        if isinstance(dist, CategoricalDistribution):
            labels = [str(c) for c in dist.choices]
            xs = [labels.index(str(t.params[name])) for t in having]
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            xs = [t.params[name] for t in having]
            if getattr(dist, "log", False):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            elif isinstance(dist, IntDistribution):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        scatter = ax.scatter(
            xs,
            [t.values[0] for t in having],
            c=[t.number for t in having],
            cmap="viridis",
            norm=norm,
            s=22,
            edgecolors="black",
            linewidths=0.3,
        )
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(params) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(data.metrics[0])
    if scatter is not None:
        figure.colorbar(scatter, ax=axes, label="trial", shrink=0.9)
    figure.suptitle(f"Slice plots: {data.metrics[0]} against each parameter")
    return figure


def _plot_curves(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]) -> Figure:
    """Per-epoch curves of the best trials: the first objective (or val_accuracy) and losses."""
    from matplotlib.ticker import MaxNLocator

    top = [t for r, t in ranked if r is not None][:TOP_CURVES]
    metric = data.metrics[0] if data.metrics[0] in VAL_METRICS else "val_accuracy"
    curves = []
    for trial in top:
        histories = data.histories(trial)
        values = histories.get(metric)
        if not values and not data.is_multi_objective and trial.intermediate_values:
            values = dict(trial.intermediate_values)  # Optuna's own record of the metric
        if values:
            curves.append((trial, values, histories))
    if not curves:
        raise _NothingToPlot("no per-epoch metrics found (MLflow runs missing)")
    figure, (left, right) = _new_figure(2, width=12.0)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for (trial, values, histories), color in zip(curves, colors, strict=False):
        label = f"#{trial.number}"
        left.plot(list(values), list(values.values()), marker="o", color=color, label=label)
        for key, style in (("train_loss", "--"), ("val_loss", "-")):
            if key in histories:
                steps = histories[key]
                right.plot(list(steps), list(steps.values()), style, color=color)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_title(metric)
    left.set_xlabel("epoch")
    left.legend(fontsize="small")
    left.grid(alpha=0.3)
    right.set_title("loss (dashed: train, solid: val)")
    right.set_xlabel("epoch")
    right.grid(alpha=0.3)
    if not right.lines:
        right.text(0.5, 0.5, "losses not logged", ha="center", transform=right.transAxes)
    return figure


def _plot_pareto(view: optuna.Study, data: StudyData) -> Figure:
    import optuna

    if len(data.metrics) > 3:
        raise _NothingToPlot(
            f"a Pareto plot shows 2 or 3 objectives; this study has {len(data.metrics)} "
            "(see the leaderboard's pareto column)"
        )
    return _optuna_plot(
        optuna.visualization.matplotlib.plot_pareto_front,
        view,
        size=(8.0, 5.0),
        target_names=data.metrics if len(data.metrics) <= 3 else None,
    )


def _png(figure: Figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


# --- the page ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; white-space: normal; }
.scroll { overflow-x: auto; } img { max-width: 100%; } .note { color: #555; }
.kv td:first-child { text-align: left; font-weight: 600; background: #fafafa; }
.warn { background: #fff6e0; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
"""


def _render(
    data: StudyData,
    ranked: list[tuple[int | None, FrozenTrial]],
    plots: dict[str, bytes],
    skipped: dict[str, str],
) -> str:
    esc = html.escape
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hpo report: {esc(data.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Study {esc(data.name)}</h1>",
        f'<p class="note">Report generated {esc(now)} by hpo.</p>',
        "<h2>Summary</h2>",
        _kv_table(_summary(data, ranked)),
    ]
    if data.is_multi_objective:
        parts.append(f'<p class="warn">{esc(MULTI_OBJECTIVE_PRUNING_NOTE)}</p>')
    parts += ["<h2>Best trial</h2>", _best_section(data, ranked)]
    shipped = data.study.user_attrs.get("hpo.retrain")
    if shipped:
        parts += ["<h2>Retrained and shipped</h2>", _retrain_section(shipped)]
    top = leaderboard(data, top=TOP_TABLE)
    parts += [
        f"<h2>Leaderboard (top {min(TOP_TABLE, len(top))} of {len(data.trials)})</h2>",
        _html_table(_display(top.drop(columns=["fail_reason"]))),
        f'<p class="note">All trials: <code>hpo leaderboard --study {esc(data.name)}</code>.</p>',
    ]
    for plot, title in PLOT_TITLES.items():
        if plot == "pareto" and not data.is_multi_objective:
            continue
        parts.append(f"<h2>{esc(title)}</h2>")
        if plot in plots:
            encoded = base64.b64encode(plots[plot]).decode("ascii")
            parts.append(
                f'<img data-plot="{plot}" alt="{esc(title)}" src="data:image/png;base64,{encoded}">'
            )
        else:
            parts.append(f'<p class="note">Not drawn: {esc(skipped.get(plot, "no data"))}.</p>')
        if plot == "pareto" and data.is_multi_objective:
            front = [t for r, t in ranked if r == 1]
            parts.append(_pareto_table(data, front))
    parts += ["<h2>Failures</h2>", _failures_section(data)]
    parts += ["<h2>Compute used</h2>", _compute_section(data)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<tr><td>{html.escape(k)}</td><td class="text">{html.escape(v)}</td></tr>' for k, v in rows
    )
    return f'<table class="kv">{body}</table>'


def _html_table(frame: pd.DataFrame) -> str:
    return '<div class="scroll">' + frame.to_html(index=False, border=0, escape=True) + "</div>"


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, sec = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"


def _fmt(value: Any) -> str:
    return _cell("", value)


def _summary(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]
) -> list[tuple[str, str]]:
    from orchestrator.redact import redact_text

    study_cfg = (data.study.user_attrs.get("hpo.space") or {}).get("study") or {}
    states = Counter(t.state.name for t in data.trials)
    objectives = ", ".join(f"{d} {m}" for m, d in zip(data.metrics, data.directions, strict=True))
    window = f"all {data.n_total}"
    if data.since is not None:
        window = (
            f"{len(data.trials)} of {data.n_total}: those started in the last {_hms(data.since)}"
        )
    starts = [t.datetime_start for t in data.trials if t.datetime_start]
    ends = [t.datetime_complete for t in data.trials if t.datetime_complete]
    rows = [
        ("objectives", objectives),
        ("trials", f"{window} ({', '.join(f'{n} {s.lower()}' for s, n in states.items())})"),
    ]
    if starts:
        span = f"{min(starts):%Y-%m-%d %H:%M} to {max(ends or starts):%Y-%m-%d %H:%M}"
        wall = (max(ends) - min(starts)).total_seconds() if ends else None
        rows.append(("time", f"{span} ({_hms(wall)} wall clock)"))
    sampler = study_cfg.get("sampler", "-")
    pruner = study_cfg.get("pruner", "-")
    rows += [
        ("sampler", _setting(sampler)),
        ("pruner", "none (multi-objective)" if data.is_multi_objective else _setting(pruner)),
        ("seed", str(study_cfg.get("seed", "-"))),
        ("space file", str(data.study.user_attrs.get("hpo.space_source", "-"))),
    ]
    best = next((t for r, t in ranked if r is not None and t.state.name == "COMPLETE"), None)
    if best is not None:
        values = ", ".join(f"{m}={_fmt(v)}" for m, v in zip(data.metrics, best.values, strict=True))
        rows.append(("best trial", f"#{best.number}: {values}"))
    if data.tracker is not None:
        parent = data.study.user_attrs.get("hpo.mlflow_parent_run_id", "-")
        rows.append(("MLflow", f"{redact_text(data.tracker.tracking_uri)}, parent run {parent}"))
    else:
        rows.append(("MLflow", "experiment not found: curves and devices unavailable"))
    return rows


def _setting(value: Any) -> str:
    if isinstance(value, dict):
        name = value.get("name", "?")
        options = ", ".join(f"{k}={v}" for k, v in value.items() if k != "name")
        return f"{name} ({options})" if options else str(name)
    return str(value)


def _best_section(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]) -> str:
    esc = html.escape
    complete = [(r, t) for r, t in ranked if r is not None and t.state.name == "COMPLETE"]
    if not complete:
        return '<p class="note">No completed trial in this window.</p>'
    best = complete[0][1]
    rows = [(m, _fmt(v)) for m, v in zip(data.metrics, best.values, strict=True)]
    rows += [(k, _fmt(v)) for k, v in _val_metrics(data, best).items() if k not in data.metrics]
    rows += [
        ("trial", f"#{best.number}"),
        ("best epoch", _fmt(best.user_attrs.get("best_epoch"))),
        ("parameters (weights)", _fmt(best.user_attrs.get("n_parameters"))),
        ("seed", _fmt(best.user_attrs.get("seed"))),
        ("MLflow run", _fmt(best.user_attrs.get("mlflow_run_id"))),
    ]
    rows += [(f"param {k}", _fmt(v)) for k, v in best.params.items()]
    out = ""
    if data.is_multi_objective:
        out += (
            '<p class="note">Several objectives have no single best: this is the Pareto-optimal '
            f"trial best on {esc(data.metrics[0])}; the whole front is under Pareto front.</p>"
        )
    out += _kv_table(rows)
    test = data.study.user_attrs.get("hpo.test_metrics")
    if test and test.get("trial") is not None:
        shown = ", ".join(
            f"{k.removeprefix('test_')}={_fmt(v)}" for k, v in test.items() if k != "trial"
        )
        out += (
            f"<p>Held-out test split, trial #{esc(str(test['trial']))} "
            f"(evaluated once, at the end of the run): {esc(shown)}.</p>"
        )
    return out


def _retrain_section(shipped: dict[str, Any]) -> str:
    esc = html.escape
    rows = []
    for config in shipped.get("configs", []):
        mean, std = config.get("mean", {}), config.get("std", {})
        cells = "".join(
            f"<td>{mean.get(k, float('nan')):.4f} &plusmn; {std.get(k, float('nan')):.4f}</td>"
            for k in ("test_accuracy", "test_precision", "test_recall", "test_f1")
        )
        rows.append(
            f"<tr><td>#{esc(str(config.get('trial')))}</td>"
            f"<td>{len(config.get('seeds', []))}</td>{cells}</tr>"
        )
    table = (
        "<table><tr><th>trial</th><th>seeds</th><th>accuracy</th><th>precision</th>"
        f"<th>recall</th><th>F1</th></tr>{''.join(rows)}</table>"
    )
    model = shipped.get("model") or {}
    note = ""
    if model.get("model_uri"):
        note = (
            f"<p>Registered model: <code>{esc(model['model_uri'])}</code> (trial "
            f"#{esc(str(model.get('trial')))}, seed {esc(str(model.get('seed')))}); "
            f"predict with <code>hpo predict --model {esc(model['model_uri'])} --input FILE"
            "</code>.</p>"
        )
    return (
        '<p class="note">Retrained on train+val, evaluated on the test split (mean &plusmn; '
        f"std over seeds, macro averages), at {esc(str(shipped.get('at', '?')))}.</p>"
        + table
        + note
    )


def _pareto_table(data: StudyData, front: list[FrozenTrial]) -> str:
    rows = []
    for trial in sorted(front, key=lambda t: t.values[0]):
        row = {"trial": trial.number}
        row.update(dict(zip(data.metrics, trial.values, strict=True)))
        row.update(trial.params)
        rows.append(row)
    import pandas as pd

    frame = pd.DataFrame(rows)
    return (
        f"<p>{len(front)} Pareto-optimal trials (no other trial is at least as good on every "
        "objective and better on one):</p>" + _html_table(_display(frame))
    )


def _failures_section(data: StudyData) -> str:
    esc = html.escape
    failed = [t for t in data.trials if t.state.name == "FAIL"]
    pruned = [t for t in data.trials if t.state.name == "PRUNED"]
    parts = []
    if not failed:
        parts.append("<p>No trial failed.</p>")
    else:
        kinds = Counter(str(t.user_attrs.get("fail_kind", "unknown")) for t in failed)
        parts.append(
            f"<p>{len(failed)} failed: "
            + esc(", ".join(f"{n} {k}" for k, n in kinds.most_common()))
            + ".</p>"
        )
        groups: dict[tuple[str, str], list[int]] = {}
        for trial in failed:
            key = (
                str(trial.user_attrs.get("fail_kind", "unknown")),
                str(trial.user_attrs.get("fail_reason", "no reason recorded")),
            )
            groups.setdefault(key, []).append(trial.number)
        body = "".join(
            f'<tr><td class="text">{esc(kind)}</td><td class="text">{esc(reason)}</td>'
            f"<td>{len(numbers)}</td>"
            f'<td class="text">{esc(", ".join(f"#{n}" for n in numbers[:20]))}'
            f"{' ...' if len(numbers) > 20 else ''}</td></tr>"
            for (kind, reason), numbers in sorted(groups.items(), key=lambda kv: -len(kv[1]))
        )
        parts.append(
            '<table><tr><th class="text">kind</th><th class="text">reason</th><th>trials</th>'
            f'<th class="text">which</th></tr>{body}</table>'
        )
    if pruned:
        at = Counter(_epochs_run(t, {}) for t in pruned)
        listing = ", ".join(
            f"{n} after epoch {e}" for e, n in sorted(at.items(), key=lambda kv: kv[0] or 0)
        )
        parts.append(f"<p>{len(pruned)} pruned: {esc(listing)}.</p>")
    return "\n".join(parts)


def _compute_section(data: StudyData) -> str:
    esc = html.escape
    rows = []
    total_seconds = 0.0
    total_epochs = 0
    by_state: dict[str, tuple[int, float, int]] = {}
    for trial in data.trials:
        seconds = _duration(trial) or 0.0
        epochs = _epochs_run(trial, data._histories.get(trial.number, {})) or 0
        n, s, e = by_state.get(trial.state.name, (0, 0.0, 0))
        by_state[trial.state.name] = (n + 1, s + seconds, e + epochs)
        total_seconds += seconds
        total_epochs += epochs
    for state, (n, seconds, epochs) in sorted(by_state.items()):
        share = 100 * seconds / total_seconds if total_seconds else 0.0
        rows.append(
            f'<tr><td class="text">{esc(state)}</td><td>{n}</td><td>{esc(_hms(seconds))}</td>'
            f"<td>{share:.0f}%</td><td>{epochs}</td></tr>"
        )
    rows.append(
        f'<tr><th class="text">all</th><th>{len(data.trials)}</th>'
        f"<th>{esc(_hms(total_seconds))}</th><th>100%</th><th>{total_epochs}</th></tr>"
    )
    table = (
        '<table><tr><th class="text">state</th><th>trials</th><th>trial time</th>'
        f"<th>share</th><th>epochs trained</th></tr>{''.join(rows)}</table>"
    )
    notes = []
    if total_epochs:
        notes.append(f"{total_seconds / total_epochs:.2f} s per epoch on average")
    devices = Counter(
        run.data.tags.get("hpo.device")
        for t in data.trials
        if (run := data.runs.get(t.user_attrs.get("mlflow_run_id"))) is not None
        and run.data.tags.get("hpo.device")
    )
    if devices:
        notes.append("devices: " + ", ".join(f"{d} ({n} trials)" for d, n in devices.items()))
    workers = {
        (w.get("host"), w.get("pid"))
        for t in data.trials
        if isinstance(w := t.user_attrs.get("hpo.worker"), dict)
    }
    if workers:
        notes.append(f"{len(workers)} worker process{'es' * (len(workers) != 1)}")
    return table + (f"<p>{esc('; '.join(notes))}.</p>" if notes else "")
