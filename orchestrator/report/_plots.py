"""The plots of the report, each drawn with matplotlib into PNG bytes: optimization history,
parameter importances, parallel coordinates, slice plots, learning curves and the Pareto front.
A plot that cannot be drawn is skipped with the reason, so that one plot never costs the report.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import first_line
from orchestrator.report._data import VAL_METRICS, StudyData, _param_names

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial


logger = logging.getLogger(__name__)

TOP_CURVES = 5  # learning curves drawn for this many of the best trials
MAX_PLOT_PARAMS = 8  # parallel coordinates and slice plots: the most important parameters
DPI = 100


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
                reason = first_line(exc, with_type=True)
                logger.warning("plot %s failed: %s", plot, reason, exc_info=logger.isEnabledFor(10))
                skipped[plot] = f"could not be drawn ({reason})"
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
