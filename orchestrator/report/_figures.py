"""The interactive page's figures: Optuna's own plotly plots (``optuna.visualization``) of the
same things the static page draws, with the same fixes (full axis names; a parameter a trial did
not sample left out of its line, not drawn at a tick "None"; pruned trials marked where they
stopped; workers on the timeline), and plotly figures of hpo's own where Optuna has none (the
losses of the top trials, the confusion matrix). Each figure becomes an HTML ``<div>``; plotly.js
itself is inlined once in the page (:func:`plotly_bundle`)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.report._data import StudyData
from orchestrator.report._test_figures import _calibration, _confusion, _residuals, _roc
from orchestrator.report._views import (
    NOT_SAMPLED,
    PLOTS,
    Plan,
    curve_metric,
    importance_evaluator,
    pruned_points,
    slice_ranges,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from optuna.trial import FrozenTrial


logger = logging.getLogger(__name__)

SLICE_SIZE = (380, 320)  # pixels of each slice panel
CONFIG = {"displaylogo": False, "responsive": True}  # plotly's modebar without its logo


def plotly_bundle() -> str:
    """plotly.js, minified (about 4.8 MB), to inline once in a page that must work offline."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _draw_figures(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], plan: Plan
) -> tuple[dict[str, str], dict[str, str]]:
    """Every plot of ``plan`` as an HTML fragment, by name; and the plots not drawn, with why."""
    drawers: dict[str, Callable[[], list[go.Figure]]] = {
        "history": lambda: _history(data, plan),
        "importances": lambda: [_importances(data, plan)],
        "parallel": lambda: [_parallel(data, plan)],
        "slice": lambda: _slices(data, plan),
        "curves": lambda: [_curves(data, plan)],
        "losses": lambda: [_losses(data, ranked, plan)],
        "timeline": lambda: [_timeline(data, plan)],
        "pareto": lambda: [_optuna("plot_pareto_front", plan, target_names=list(data.metrics))],
        "confusion": lambda: [_confusion(data.test_evaluation() or {})],
        "roc": lambda: _roc(data.test_evaluation() or {}),
        "calibration": lambda: [_calibration(data.test_evaluation() or {})],
        "residuals": lambda: _residuals(data.test_evaluation() or {}),
    }
    figures: dict[str, str] = {}
    skipped = {p: r for p, r in plan.skipped.items() if p in PLOTS}
    for plot in PLOTS:
        if not plan.draws(plot):
            continue
        try:
            drawn = drawers[plot]()
        except Exception as exc:  # one plot must not cost the whole report
            reason = first_line(exc, with_type=True)
            logger.warning("figure %s failed: %s", plot, reason, exc_info=logger.isEnabledFor(10))
            skipped[plot] = f"could not be drawn ({reason})"
            continue
        divs = [
            f.to_html(
                full_html=False, include_plotlyjs=False, div_id=f"plot-{plot}-{i}", config=CONFIG
            )
            for i, f in enumerate(drawn)
        ]
        inner = "".join(divs) if len(divs) == 1 else f'<div class="grid">{"".join(divs)}</div>'
        figures[plot] = f'<div data-plot="{plot}">{inner}</div>'
    return figures, skipped


def _optuna(name: str, plan: Plan, *, drawn: bool = False, **kwargs: Any) -> go.Figure:
    """Optuna's plotly plot ``name`` of the plan's view (``drawn``: of its sample, see
    :attr:`Plan.drawn`); None arguments left out."""
    from orchestrator.report._study_view import optuna_importance

    optuna_importance()  # before Optuna's plots import it, with scikit-learn
    import optuna.visualization as vis

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(vis, name)(plan.drawn if drawn else plan.view, **kwargs)


def _importances(data: StudyData, plan: Plan) -> go.Figure:
    figure = _optuna(
        "plot_param_importances",
        plan,
        evaluator=importance_evaluator(),
        target_name=None if data.is_multi_objective else data.metrics[0],
    )
    bars = len(data.param_names()) * len(data.metrics)  # a bar per parameter, objective
    figure.update_layout(height=max(450, 22 * bars + 150))
    return figure


def _history(data: StudyData, plan: Plan) -> list[go.Figure]:
    figures = []
    for i, metric in enumerate(data.metrics):
        target = (lambda t, i=i: t.values[i]) if data.is_multi_objective else None
        figure = _optuna("plot_optimization_history", plan, target=target, target_name=metric)
        figure.update_layout(title=f"{metric} ({data.directions[i]})")
        pruned = [] if data.is_multi_objective else pruned_points(plan)
        if pruned:  # Optuna's history has only the complete trials
            figure.add_scatter(
                x=[n for n, _ in pruned],
                y=[v for _, v in pruned],
                mode="markers",
                marker={"symbol": "x", "color": "#888888", "size": 9},
                name="pruned: last value",
                hovertemplate="trial %{x} pruned: %{y}<extra></extra>",
            )
        if data.is_multi_objective:
            figure.update_layout(width=560, height=400)
        figures.append(figure)
    return figures


def _parallel(data: StudyData, plan: Plan) -> go.Figure:
    figure = _optuna(
        "plot_parallel_coordinate",
        plan,
        drawn=True,
        params=plan.params,
        target=plan.target,
        target_name=data.metrics[0],
    )
    names = [data.metrics[0], *sorted(plan.params)]
    _unclip_parallel(figure, names)
    return figure


def _unclip_parallel(figure: go.Figure, names: list[str]) -> None:
    """Optuna's parallel coordinates, fixed: the axes named in full, on two lines (Optuna cuts
    names at 17 characters), and a parameter a trial did not sample left out of its line (a gap,
    "n/a" on hover) instead of drawn at a tick "None"."""
    ticks = list(figure.layout.xaxis.ticktext or [])
    if len(ticks) != len(names):  # not the figure this fix knows: leave it as Optuna drew it
        return
    figure.update_xaxes(ticktext=[_two_lines(n) for n in names], tickfont={"size": 11})
    for trace in figure.data:
        if trace.customdata is None or trace.mode != "lines":
            continue
        ys = list(trace.y)
        data = [list(row) for row in trace.customdata]
        for i, row in enumerate(data):
            row[0] = names[i] if i < len(names) else row[0]
            if row[1] == "None":  # Optuna's label for a parameter the trial did not sample
                ys[i] = None
                row[1] = f"{NOT_SAMPLED} (not sampled)"
        trace.update(y=ys, customdata=data)
    annotations = [a for a in figure.layout.annotations if a.text != "None"]
    figure.update_layout(annotations=annotations, margin={"b": 90})


def _two_lines(name: str) -> str:
    head, _, last = name.rpartition(".")
    return f"{head}<br>{last}" if head else name


def _slices(data: StudyData, plan: Plan) -> list[go.Figure]:
    """Optuna's slice plot of each parameter, one figure each (Optuna puts every panel in one
    row, where names and ticks of more than a few parameters overlap)."""
    width, height = SLICE_SIZE
    (low, high), (first, last) = slice_ranges(data, plan)
    figures = []
    for param in plan.params:
        figure = _optuna(
            "plot_slice",
            plan,
            drawn=True,
            params=[param],
            target=plan.target,
            target_name=data.metrics[0],
        )
        figure.update_layout(title=None, width=width, height=height, margin={"t": 30})
        figure.update_yaxes(range=[low, high], tickformat=".4~g")
        figure.update_traces(marker={"cmin": first, "cmax": last}, selector={"mode": "markers"})
        figures.append(figure)
    return figures


def _curves(data: StudyData, plan: Plan) -> go.Figure:
    """Every trial's metric by epoch (Optuna's intermediate values when Optuna recorded them,
    the MLflow histories otherwise), with a red x where a pruned trial was stopped."""
    import plotly.graph_objects as go

    metric = curve_metric(data)
    if not data.is_multi_objective and any(t.intermediate_values for t in data.trials):
        figure = _optuna("plot_intermediate_values", plan, drawn=True)
    else:
        figure = go.Figure()
        for curve in plan.curves:
            figure.add_scatter(
                x=list(curve.values), y=list(curve.values.values()), name=f"Trial{curve.number}"
            )
    rank = {n: i for i, n in enumerate(plan.top)}
    for trace in figure.data:  # the best trials named in the legend, by rank; the others grey
        number = _trial_of(trace.name)
        if number in rank:
            trace.update(name=f"#{number} (rank {rank[number] + 1})", legendrank=rank[number])
        else:
            trace.update(showlegend=False, line={"color": "#c8c8c8", "width": 1}, marker=None)
    stops = [(c.number, c.stopped_at) for c in plan.curves if c.stopped_at is not None]
    if stops:
        figure.add_scatter(
            x=[epoch for _, (epoch, _) in stops],
            y=[value for _, (_, value) in stops],
            mode="markers",
            marker={"symbol": "x", "color": "red", "size": 10},
            name="pruned: stopped here",
            text=[str(number) for number, _ in stops],
            hovertemplate="trial %{text} pruned after epoch %{x}: %{y}<extra></extra>",
            showlegend=True,
        )
    figure.update_layout(
        title=f"{metric} by epoch, every trial",
        xaxis_title="epoch",
        yaxis_title=metric,
        showlegend=True,
    )
    return figure


def _trial_of(name: str | None) -> int | None:
    """The trial number of a curve's trace (Optuna names them ``Trial7``)."""
    digits = "".join(ch for ch in str(name or "") if ch.isdigit())
    return int(digits) if digits else None


def _losses(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], plan: Plan) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.colors import DEFAULT_PLOTLY_COLORS

    trials = {t.number: t for _, t in ranked}
    figure = go.Figure()
    for number, color in zip(plan.top, DEFAULT_PLOTLY_COLORS, strict=False):
        histories = data.histories(trials[number])
        for key, dash in (("train_loss", "dash"), ("val_loss", "solid")):
            steps = histories.get(key)
            if steps:
                figure.add_scatter(
                    x=list(steps),
                    y=list(steps.values()),
                    name=f"#{number} {key.removesuffix('_loss')}",
                    line={"dash": dash, "color": color},
                    legendgroup=str(number),
                )
    figure.update_layout(
        title="loss of the best trials (dashed: train, solid: validation)",
        xaxis_title="epoch",
        yaxis_title="loss",
    )
    return figure


def _timeline(data: StudyData, plan: Plan) -> go.Figure:
    """Optuna's timeline, each bar's hover saying the trial's state, duration and worker, and
    each trial's worker beside its number (up to 60 trials)."""
    figure = _optuna("plot_timeline", plan, drawn=True)
    trials = {t.number: t for t in data.trials}
    for trace in figure.data:
        texts = []
        for number in trace.y:
            trial = trials.get(int(number))
            texts.append(_bar_text(trial, plan.workers.get(int(number))) if trial else "")
        trace.update(text=texts, hovertemplate="%{text}<extra></extra>")
    numbers = sorted(trials)
    if plan.workers and len(numbers) <= 60:
        figure.update_yaxes(
            tickmode="array",
            tickvals=numbers,
            ticktext=[f"{n} {plan.workers.get(n, '')}".strip() for n in numbers],
        )
    figure.update_layout(height=max(350, min(900, 18 * len(numbers) + 150)))
    return figure


def _bar_text(trial: FrozenTrial, worker: str | None) -> str:
    from orchestrator.config import format_duration

    parts = [f"trial {trial.number}: {trial.state.name}"]
    if trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        parts.append(f"{format_duration(seconds)} from {trial.datetime_start:%H:%M:%S}")
    if trial.values:
        parts.append(", ".join(f"{v:.4g}" for v in trial.values))
    if worker:
        parts.append(f"worker {worker}")
    return "<br>".join(parts)
