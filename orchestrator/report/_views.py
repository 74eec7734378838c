"""What the static and the interactive report both draw, worked out once: the study that
Optuna's plot functions read, the parameters worth a plot, each trial's learning curve (and where
a pruned one stopped), the worker labels of the timeline, and whether parameter importances rest
on enough trials. No drawing library here."""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.report._data import StudyData, worker_of

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


logger = logging.getLogger(__name__)

MAX_PLOT_PARAMS = 8  # parallel coordinates and slice plots: the most important parameters
TOP_CURVES = 5  # loss curves drawn for this many of the best trials
# Importances: Optuna's PED-ANOVA compares the best TOP_SHARE of the completed trials with all of
# them; its documentation asks for at least TOP_TRIALS trials in that best share to be stable.
TOP_SHARE = 0.1  # PedAnovaImportanceEvaluator's target_quantile (its default)
TOP_TRIALS = 5
NOT_SAMPLED = "n/a"  # what a plot says of a parameter its trial did not sample (branch not taken)
# parallel coordinates, slices, the timeline and the grey learning curves of a larger study draw
# a random sample of this many of its trials (seeded: the same trials give the same sample), so
# that lines, points and bars stay legible and quick; the history and importances use them all
MAX_DRAWN = 1_000
SAMPLE_SEED = 0


def view_study(data: StudyData) -> optuna.Study:
    """What Optuna's plots read: the study with the trials of the report, never copied (see
    :class:`~orchestrator.report._study_view.StudyView`): every trial, or the finished trials of
    the window; the objectives named as the report names them, which labels the plots."""
    from optuna.trial import TrialState

    from orchestrator.report._study_view import StudyView

    trials = data.trials
    if data.since is not None or data.is_multi_objective:
        finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        trials = [t for t in data.trials if t.state in finished]
    return StudyView(data.study, trials, metric_names=data.metrics)


def drawn_study(data: StudyData, view: optuna.Study) -> optuna.Study:
    """What the plots that draw every trial read (parallel coordinates, slices, the timeline):
    ``view``, or a random sample of :data:`MAX_DRAWN` of its trials when it holds more."""
    from orchestrator.report._study_view import StudyView, sample_of

    trials = view.get_trials(deepcopy=False)
    if len(trials) <= MAX_DRAWN:
        return view
    drawn = sample_of(trials, MAX_DRAWN, seed=SAMPLE_SEED)
    return StudyView(data.study, drawn, metric_names=data.metrics)


def sampled_note(plan: Plan) -> str:
    """What a plot of :attr:`Plan.drawn` says when it is a sample: how many of how many."""
    drawn, every = plan.drawn.get_trials(deepcopy=False), plan.view.get_trials(deepcopy=False)
    if len(drawn) >= len(every):
        return ""
    complete = sum(1 for t in every if t.state.name == "COMPLETE")
    drawn_complete = sum(1 for t in drawn if t.state.name == "COMPLETE")
    return (
        f"Drawn: a random sample of {len(drawn):,} of the {len(every):,} trials "
        f"({drawn_complete:,} of the {complete:,} completed), the same on every report of "
        "these trials, so that the plot stays legible; the optimization history and the "
        "importances use every trial."
    )


def first_objective(data: StudyData) -> Callable[[FrozenTrial], float] | None:
    """The ``target`` for Optuna's single-objective plots: None with one objective (its value),
    the first objective's value with several."""
    return (lambda t: t.values[0]) if data.is_multi_objective else None


def plot_params(view: optuna.Study, data: StudyData) -> list[str]:
    """The parameters worth a parallel-coordinates and a slice plot: every parameter a completed
    trial sampled, or the :data:`MAX_PLOT_PARAMS` most important when there are more."""
    from orchestrator.report._study_view import optuna_importance

    names = data.param_names([t for t in data.trials if t.state.name == "COMPLETE"])
    if len(names) <= MAX_PLOT_PARAMS:
        return names
    # PED-ANOVA ranks what makes a target LOW: the first objective, turned round if maximized
    sign = -1.0 if data.directions[0] == "maximize" else 1.0
    target = (lambda t: sign * t.values[0]) if data.is_multi_objective else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna_importance().get_param_importances(
                view, evaluator=importance_evaluator(), target=target
            )
        ranked = [p for p in importances if p in names]
        return (ranked + [p for p in names if p not in ranked])[:MAX_PLOT_PARAMS]
    except Exception as exc:
        logger.debug("importances unavailable (%s); plotting the first parameters", exc)
        return names[:MAX_PLOT_PARAMS]


def conditional_params(data: StudyData, params: list[str]) -> list[str]:
    """Those of ``params`` that some completed trial did not sample (a branch not taken)."""
    complete = [t for t in data.trials if t.state.name == "COMPLETE"]
    return [p for p in params if any(p not in t.params for t in complete)]


def importance_evaluator() -> optuna.importance.BaseImportanceEvaluator:
    """PED-ANOVA, chosen by name (Optuna's default since 5.0, and optuna-dashboard's), so that
    the report's note on how many trials it needs holds whatever the installed default."""
    from orchestrator.report._study_view import optuna_importance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental in some versions
        return optuna_importance().PedAnovaImportanceEvaluator(target_quantile=TOP_SHARE)


def importance_note(data: StudyData) -> str | None:
    """A warning when parameter importances rest on few completed trials: how many there are,
    how many of them PED-ANOVA's best share holds, and how many would be enough."""
    n_complete = sum(1 for t in data.trials if t.state.name == "COMPLETE")
    enough = math.ceil(TOP_TRIALS / TOP_SHARE)
    if n_complete >= enough:
        return None
    top = max(1, math.ceil(TOP_SHARE * n_complete))
    return (
        f"These importances rest on {n_complete} completed trials: treat them as a hint. "
        f"Optuna's PED-ANOVA compares the best {TOP_SHARE:.0%} of the completed trials "
        f"({top} here) with all of them, and its documentation asks for at least {TOP_TRIALS} "
        f"in that best {TOP_SHARE:.0%}: about {enough} completed trials."
    )


@dataclass(frozen=True)
class Curve:
    """A trial's learning curve: the metric by epoch, and its state."""

    number: int
    state: str
    values: dict[int, float]  # epoch -> value

    @property
    def stopped_at(self) -> tuple[int, float] | None:
        """(epoch, value) where a pruned trial stopped: its last reported epoch; else None."""
        if self.state != "PRUNED" or not self.values:
            return None
        last = max(self.values)
        return last, self.values[last]


def pruned_points(plan: Plan) -> list[tuple[int, float]]:
    """(number, last reported value) of the view's pruned trials: the history plot's grey x
    (Optuna's history leaves them out). Single objective only."""
    return [
        (t.number, float(t.value))
        for t in plan.view.trials
        if t.state.name == "PRUNED" and t.value is not None and len(t.values or []) == 1
    ]


def slice_ranges(data: StudyData, plan: Plan) -> tuple[tuple[float, float], tuple[int, int]]:
    """What every slice panel shares: the objective's axis (the completed trials' values, padded
    by 5%) and the colour scale of trial numbers (the first to the last of the window)."""
    target = plan.target or (lambda t: t.value)
    values = [float(target(t)) for t in plan.view.trials if t.state.name == "COMPLETE"]
    numbers = [t.number for t in plan.view.trials] or [0]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 0.05
    return (low - pad, high + pad), (min(numbers), max(max(numbers), min(numbers) + 1))


def curve_metric(data: StudyData) -> str:
    """The metric of the learning curves: the (first) objective when it is logged per epoch."""
    return data.metrics[0] if data.metrics[0] in data.val_metrics else data.task.default_metric


def learning_curves(data: StudyData) -> list[Curve]:
    """Every trial's curve of :func:`curve_metric`, first trial first: Optuna's intermediate
    values (what the pruner compared) with one objective where the study has them (a trial
    without them stopped before its first epoch ended: its run holds no epoch either), else the
    MLflow run's history."""
    metric = curve_metric(data)
    reported = not data.is_multi_objective and any(t.intermediate_values for t in data.trials)
    curves = []
    for trial in data.trials:
        values: dict[int, float] = {}
        if reported:
            values = {int(k): float(v) for k, v in trial.intermediate_values.items()}
        elif trial.state.name in ("COMPLETE", "PRUNED", "FAIL"):
            values = dict(data.history(trial, metric))
        if values:
            curves.append(Curve(trial.number, trial.state.name, dict(sorted(values.items()))))
    return curves


def top_trials(ranked: list[tuple[int | None, FrozenTrial]], n: int = TOP_CURVES) -> list[int]:
    """The numbers of the ``n`` best completed trials, best first."""
    return [t.number for r, t in ranked if r is not None and t.state.name == "COMPLETE"][:n]


def worker_labels(data: StudyData) -> tuple[dict[int, str], dict[str, str]]:
    """Short labels for the timeline: trial number -> ``w1``, ``w2``, ... (by first trial), and
    each label -> ``host pid N``. Empty when no trial carries a worker record."""
    labels: dict[tuple[str, int, str], str] = {}
    by_trial: dict[int, str] = {}
    for trial in sorted(data.trials, key=lambda t: (t.datetime_start or dt.datetime.max, t.number)):
        worker = worker_of(trial)
        if worker is None:
            continue
        label = labels.setdefault(worker, f"w{len(labels) + 1}")
        by_trial[trial.number] = label
    return by_trial, {label: f"{host} pid {pid}" for (host, pid, _), label in labels.items()}


# the plots of the test split, each drawn where the study's task has it (Task.report_plots)
TEST_PLOTS = ("confusion", "roc", "calibration", "residuals")
PLOTS = (
    "history",
    "importances",
    "parallel",
    "slice",
    "curves",
    "losses",
    "timeline",
    "pareto",
    *TEST_PLOTS,
)
# completed trials a plot needs (default 1)
NEEDS_COMPLETE = {"importances": 2, "parallel": 2, "timeline": 0, **dict.fromkeys(TEST_PLOTS, 0)}


@dataclass
class Plan:
    """What both pages draw, decided once: the view Optuna's plots read, the parameters, the
    curves, the workers; the plots neither page can draw (and why), and a note under some."""

    view: optuna.Study
    drawn: optuna.Study  # what parallel coordinates, slices and the timeline draw: a sample
    target: Callable[[FrozenTrial], float] | None
    params: list[str]
    curves: list[Curve]
    top: list[int]  # the best completed trials, best first: their losses are drawn
    workers: dict[int, str]  # trial number -> w1, w2, ...
    applicable: list[str]  # the plots of this kind of study (a Pareto front: several objectives)
    skipped: dict[str, str]
    notes: dict[str, str]

    def draws(self, plot: str) -> bool:
        return plot in self.applicable and plot not in self.skipped


def plan_plots(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]) -> Plan:
    """Decide what the report draws (see :class:`Plan`)."""
    view = view_study(data)
    drawn = drawn_study(data, view)
    params = plot_params(view, data)
    workers, names = worker_labels(data)
    top = top_trials(ranked)
    curves = learning_curves(data)
    if drawn is not view:  # a sample: the best trials' curves, and the sample's in grey
        shown = {t.number for t in drawn.get_trials(deepcopy=False)} | set(top)
        curves = [c for c in curves if c.number in shown]
    plan = Plan(
        view=view,
        drawn=drawn,
        target=first_objective(data),
        params=params,
        curves=curves,
        top=top,
        workers=workers,
        applicable=[p for p in PLOTS if _applies(p, data)],
        skipped={},
        notes={},
    )
    n_complete = sum(1 for t in data.trials if t.state.name == "COMPLETE")
    for plot in plan.applicable:
        needs = NEEDS_COMPLETE.get(plot, 1)
        if n_complete < needs:
            plan.skipped[plot] = f"needs at least {needs} completed trials, got {n_complete}"
    reasons = {
        "slice": None if params else "no parameter was sampled",
        "curves": None if plan.curves else "no per-epoch metrics found (MLflow runs missing)",
        "losses": None if _has_losses(data, ranked, plan.top) else "no losses logged per epoch",
        "pareto": _pareto_reason(data),
        **dict.fromkeys(TEST_PLOTS, _test_reason(data)),
    }

    if data.test_evaluation() and "curves" not in (data.test_evaluation() or {}):
        reasons |= dict.fromkeys(("roc", "calibration"), "the test split holds one class only")
    for plot, reason in reasons.items():
        if reason is not None and plot in plan.applicable:
            plan.skipped.setdefault(plot, reason)
    note = importance_note(data) if plan.draws("importances") else None
    if note:
        plan.notes["importances"] = note
    shown = _shown_params(data, params)
    if shown:
        plan.notes["parallel"] = shown
    if conditional_params(data, params):
        plan.notes["parallel"] = (
            f"{shown} A line breaks off at a parameter its trial did not sample (a branch of the "
            f"space that was not taken): {NOT_SAMPLED} there, not a value."
        ).strip()
    plan.notes["slice"] = (
        f"{shown} Every panel has the same {data.metrics[0]} axis and colours the trials by "
        "number, the same in every panel (light: early, dark: late)"
        + (
            "; each shows the trials that sampled its parameter."
            if conditional_params(data, params)
            else "."
        )
    ).strip()
    if plan.curves:
        plan.notes["curves"] = (
            f"{curve_metric(data)} of each trial by epoch; the best {len(plan.top)} trials in "
            "colour and named in the legend, the others grey; a red x marks the epoch at which "
            "the pruner stopped a trial."
        )
    if not data.is_multi_objective and any(t.state.name == "PRUNED" for t in data.trials):
        plan.notes["history"] = (
            "Complete trials by their objective; grey x: pruned trials at the last value they "
            "reported (they did not finish, so they are not the best value)."
        )
    if names:
        plan.notes["timeline"] = "Worker processes: " + "; ".join(
            f"{label}: {name} ({_count(workers, label)} trials)" for label, name in names.items()
        )
    sampled = sampled_note(plan)
    for plot in ("parallel", "slice", "timeline", "curves") if sampled else ():
        plan.notes[plot] = f"{plan.notes.get(plot, '')} {sampled}".strip()
    return plan


def _shown_params(data: StudyData, params: list[str]) -> str:
    """Which parameters the parallel-coordinates and slice plots show, when not all of them."""
    every = data.param_names([t for t in data.trials if t.state.name == "COMPLETE"])
    if len(params) >= len(every):
        return ""
    return (
        f"The {len(params)} most important of the {len(every)} parameters (Optuna's PED-ANOVA, "
        "as in Parameter importances); every parameter: hpo report --interactive, or "
        "optuna-dashboard."
    )


def _applies(plot: str, data: StudyData) -> bool:
    """Whether ``plot`` is one for this kind of study: a Pareto front for several objectives,
    a test plot for the task that draws it."""
    if plot == "pareto":
        return data.is_multi_objective
    if plot in TEST_PLOTS:
        return plot in data.task.report_plots
    return True


def _test_reason(data: StudyData) -> str | None:
    if data.test_evaluation():
        return None
    return "no test evaluation (no test split, or no MLflow parent run with it)"


def _count(workers: dict[int, str], label: str) -> int:
    return sum(1 for w in workers.values() if w == label)


def _has_losses(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], top: list[int]
) -> bool:
    trials = {t.number: t for _, t in ranked}
    return any(key in data.histories(trials[n]) for n in top for key in ("train_loss", "val_loss"))


def _pareto_reason(data: StudyData) -> str | None:
    if len(data.metrics) > 3:
        return (
            f"a Pareto plot shows 2 or 3 objectives; this study has {len(data.metrics)} "
            "(see the leaderboard's pareto column)"
        )
    return None
