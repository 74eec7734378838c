"""The static page's plots, each a PNG (the page must open offline, without a script): Optuna's
own matplotlib plots (optimization history, parameter importances, parallel coordinates, slice
plots, intermediate values as learning curves, the timeline, the Pareto front) with hpo's fixes
(full axis names; a parameter a trial did not sample left out of its line, not drawn at a tick
"None"; readable log axes; pruned trials marked where they stopped; workers on the timeline), and
hpo's own drawings where Optuna has none (the losses of the top trials, and the test split as its
task shows it: the confusion matrix of classes, ROC, precision-recall and calibration curves of a
binary task, predicted against actual values and residuals of a regression).
A plot that cannot be drawn is skipped with the reason, so that one plot never costs the report.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.numbers import fmt_number
from orchestrator.png import figure_png, grid_png
from orchestrator.report._data import StudyData
from orchestrator.report._test_plots import COLORS, _calibration, _confusion, _residuals, _roc
from orchestrator.report._views import (
    PLOTS,
    Curve,
    Plan,
    curve_metric,
    importance_evaluator,
    pruned_points,
    slice_ranges,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial


logger = logging.getLogger(__name__)

SLICE_COLUMNS = 4  # slice panels per row


def _draw_plots(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], plan: Plan
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every plot of ``plan`` as PNG bytes, by name; and the plots not drawn, with the reason."""
    import matplotlib.pyplot as plt

    drawers: dict[str, Callable[[], bytes]] = {
        "history": lambda: _history(data, plan),
        "importances": lambda: figure_png(_importances(data, plan)),
        "parallel": lambda: figure_png(_parallel(data, plan)),
        "slice": lambda: _slices(data, plan),
        "curves": lambda: figure_png(_curves(data, plan)),
        "losses": lambda: figure_png(_losses(data, ranked, plan)),
        "timeline": lambda: figure_png(_timeline(plan)),
        "pareto": lambda: figure_png(_pareto(data, plan)),
        "confusion": lambda: figure_png(_confusion(data.test_evaluation() or {})),
        "roc": lambda: figure_png(_roc(data.test_evaluation() or {})),
        "calibration": lambda: figure_png(_calibration(data.test_evaluation() or {})),
        "residuals": lambda: figure_png(_residuals(data.test_evaluation() or {})),
    }
    plots: dict[str, bytes] = {}
    skipped = {p: r for p, r in plan.skipped.items() if p in PLOTS}
    for plot in PLOTS:
        if not plan.draws(plot):
            continue
        # Optuna's plots switch the global style (ggplot): keep every plot's settings to itself
        with plt.rc_context():
            try:
                plots[plot] = drawers[plot]()
            except Exception as exc:  # one plot must not cost the whole report
                reason = first_line(exc, with_type=True)
                logger.warning("plot %s failed: %s", plot, reason, exc_info=logger.isEnabledFor(10))
                skipped[plot] = f"could not be drawn ({reason})"
            finally:
                plt.close("all")
    return plots, skipped


def _optuna(
    name: str, plan: Plan, *, size: tuple[float, float], drawn: bool = False, **kwargs: Any
) -> Axes:
    """Optuna's matplotlib plot ``name`` of the plan's view (``drawn``: of its sample, see
    :attr:`Plan.drawn`), resized; None arguments left out."""
    import numpy as np

    from orchestrator.report._study_view import optuna_importance

    optuna_importance()  # before Optuna's plots import it, with scikit-learn
    import optuna.visualization.matplotlib as vis

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning on every matplotlib plot
        axes = getattr(vis, name)(plan.drawn if drawn else plan.view, **kwargs)
    ax = np.ravel(axes)[0]
    ax.figure.set_size_inches(*size)
    return ax


def _history(data: StudyData, plan: Plan) -> bytes:
    """Optuna's optimization history: one plot, or one per objective side by side."""
    from matplotlib.ticker import MaxNLocator

    pngs = []
    for i, metric in enumerate(data.metrics):
        target = (lambda t, i=i: t.values[i]) if data.is_multi_objective else None
        ax = _optuna(
            "plot_optimization_history",
            plan,
            size=(9.0, 4.5) if len(data.metrics) == 1 else (6.0, 4.0),
            target=target,
            target_name=metric,
        )
        ax.set_title(f"{metric} ({data.directions[i]})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
        pruned = [] if data.is_multi_objective else pruned_points(plan)
        if pruned:  # Optuna's history has only the complete trials
            ax.scatter(
                [n for n, _ in pruned],
                [v for _, v in pruned],
                marker="x",
                color="#888888",
                zorder=3,
                label=f"pruned: last value ({len(pruned)} trials)",
            )
            ax.legend(loc="best", fontsize="small")
        pngs.append(figure_png(ax.figure))
    return pngs[0] if len(pngs) == 1 else grid_png(pngs, columns=2)


def _importances(data: StudyData, plan: Plan) -> Figure:
    # several objectives: one bar per objective, named by the view's metric names; a bar per
    # parameter (per objective): the height grows with them
    n_params = len(data.param_names()) or 1
    return _optuna(
        "plot_param_importances",
        plan,
        size=(9.0, max(4.5, 0.28 * n_params * len(data.metrics) + 1.5)),
        evaluator=importance_evaluator(),
        target_name=None if data.is_multi_objective else data.metrics[0],
    ).figure


def _parallel(data: StudyData, plan: Plan) -> Figure:
    ax = _optuna(
        "plot_parallel_coordinate",
        plan,
        size=(max(9.0, 1.4 * len(plan.params) + 3.0), 5.5),
        drawn=True,
        params=plan.params,
        target=plan.target,
        target_name=data.metrics[0],
    )
    _unclip_parallel(ax, [data.metrics[0], *sorted(plan.params)])
    return ax.figure


def _unclip_parallel(ax: Axes, names: list[str]) -> None:
    """Optuna's parallel coordinates, fixed: the axes named in full (Optuna cuts names at 17
    characters), and a parameter a trial did not sample left out of its line (a gap) instead of
    drawn at a tick "None" below the values."""
    import numpy as np
    from matplotlib.collections import LineCollection

    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", rotation_mode="anchor")
    bottom = ax.get_ylim()[0]
    gaps = []  # the columns (0: the objective) of the parameters some trial did not sample
    for twin in ax.figure.axes:
        _readable_log_axis(twin, "y")
        labels = [t.get_text() for t in twin.get_yticklabels()]
        if twin is ax or "None" not in labels:
            continue
        gaps.append(round(twin.spines["right"].get_position()[1] * (len(names) - 1)))
        kept = [(v, t) for v, t in zip(twin.get_yticks(), labels, strict=True) if t != "None"]
        twin.set_yticks([v for v, _ in kept], [t for _, t in kept])
    for lines in ax.collections:
        if not gaps or not isinstance(lines, LineCollection):
            continue
        segments = [np.array(s, dtype=float) for s in lines.get_segments()]
        for segment in segments:
            for column in gaps:  # "None" sits at the axis' bottom: Optuna's missing value
                if math.isclose(segment[column, 1], bottom):
                    segment[column, 1] = np.nan
        lines.set_segments(segments)


def _slices(data: StudyData, plan: Plan) -> bytes:
    """Optuna's slice plot of each parameter, as a grid of panels (Optuna puts every panel in one
    row, where names and ticks of more than a few parameters overlap), every panel on the same
    objective axis and colour scale of trial numbers, with few ticks at 4 significant digits."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    (low, high), (first, last) = slice_ranges(data, plan)
    number = FuncFormatter(lambda v, _: fmt_number(float(v)))
    pngs = []
    for param in plan.params:
        ax = _optuna(
            "plot_slice",
            plan,
            size=(3.6, 3.0),
            drawn=True,
            params=[param],
            target=plan.target,
            target_name=data.metrics[0],
        )
        ax.set_title("")
        ax.set_ylim(low, high)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_formatter(number)
        if ax.get_xscale() == "log":
            _readable_log_axis(ax)
        elif not ax.xaxis.get_major_formatter().__class__.__name__.startswith("Str"):
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.xaxis.set_major_formatter(number)
        for points in ax.collections:
            points.set_clim(first, last)
            bar = getattr(points, "colorbar", None)
            if bar is not None:
                bar.update_normal(points)
                bar.locator = MaxNLocator(nbins=5, integer=True)
                bar.update_ticks()
        pngs.append(figure_png(ax.figure))
    return grid_png(pngs, columns=SLICE_COLUMNS)


def _readable_log_axis(ax: Axes, which: str = "x") -> None:
    """A log axis labelled at 1, 2 and 5 times powers of ten (every power over wide ranges), in
    plain numbers: matplotlib labels only powers of ten (none within one decade), as 4x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    scale, limits, axis = (
        (ax.get_xscale(), ax.get_xlim(), ax.xaxis)
        if which == "x"
        else (ax.get_yscale(), ax.get_ylim(), ax.yaxis)
    )
    if scale != "log":
        return
    low, high = sorted(limits)
    wide = low > 0 and math.log10(high / low) > 1.5
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _curves(data: StudyData, plan: Plan) -> Figure:
    """Every trial's metric by epoch (Optuna's intermediate values when Optuna recorded them,
    the MLflow histories otherwise): the best trials in colour and in the legend, the others
    grey, with a red x where a pruned trial was stopped."""
    import matplotlib.pyplot as plt

    metric = curve_metric(data)
    figure, ax = plt.subplots(figsize=(10.0, 4.8))
    colors = dict(zip(plan.top, COLORS, strict=False))
    rank = {n: i for i, n in enumerate(plan.top)}
    # the best drawn last (on top), in the legend by rank
    for curve in sorted(plan.curves, key=lambda c: (c.number in rank, rank.get(c.number, 0))):
        color = colors.get(curve.number)
        ax.plot(
            list(curve.values),
            list(curve.values.values()),
            ".-" if color else "-",
            color=color or "#c8c8c8",
            lw=2 if color else 1,
            zorder=3 if color else 2,
            label=f"#{curve.number} (rank {rank[curve.number] + 1})" if color else None,
        )
    _mark_pruned(ax, plan.curves)
    ax.grid(alpha=0.3)
    ax.set_title(f"{metric} by epoch, every trial")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    return figure


def _mark_pruned(ax: Axes, curves: list[Curve]) -> None:
    from matplotlib.ticker import MaxNLocator

    stops = [(c.number, c.stopped_at) for c in curves if c.stopped_at is not None]
    if stops:
        ax.scatter(
            [epoch for _, (epoch, _) in stops],
            [value for _, (_, value) in stops],
            marker="x",
            s=60,
            linewidths=2,
            color="red",
            zorder=5,
            label=f"pruned: stopped here ({len(stops)} trials)",
        )
    if stops or ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _losses(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], plan: Plan) -> Figure:
    """Train (dashed) and validation (solid) loss by epoch of the best trials, from MLflow."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    trials = {t.number: t for _, t in ranked}
    figure, ax = plt.subplots(figsize=(10.0, 4.5))
    for number, color in zip(plan.top, COLORS, strict=False):
        histories = data.histories(trials[number])
        for key, style in (("train_loss", "--"), ("val_loss", "-")):
            steps = histories.get(key)
            if steps:
                label = f"#{number}" if key == "val_loss" or "val_loss" not in histories else None
                ax.plot(list(steps), list(steps.values()), style, color=color, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("loss of the best trials (dashed: train, solid: validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def _timeline(plan: Plan) -> Figure:
    """Optuna's timeline (a bar per trial, coloured by state), each trial's worker beside its
    number."""
    from matplotlib.ticker import FuncFormatter

    height = min(12.0, max(3.5, 0.22 * len(plan.drawn.trials) + 1.5))
    ax = _optuna("plot_timeline", plan, size=(10.0, height), drawn=True)
    if plan.workers:
        workers = plan.workers
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{int(v)} {workers.get(int(v), '')}".strip())
        )
        ax.set_ylabel("trial and worker")
    return ax.figure


def _pareto(data: StudyData, plan: Plan) -> Figure:
    return _optuna(
        "plot_pareto_front", plan, size=(8.0, 5.0), target_names=list(data.metrics)
    ).figure
