"""The report's sections that are text and tables: summary, best trial, test split, retrained
models, leaderboard (each trial linked to its MLflow run) and the Pareto table; and the small
HTML helpers they share. Failures and compute used live in ``_usage``."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.config import format_duration
from orchestrator.numbers import fmt_number
from orchestrator.report._activity import Activity
from orchestrator.report._data import StudyData, _val_metrics
from orchestrator.report._leaderboard import _cell, _display, default_columns, leaderboard
from orchestrator.report._links import links_note, run_url
from orchestrator.study import ATTR_SPACE, study_attr
from orchestrator.tasks import metric_label

if TYPE_CHECKING:
    import pandas as pd
    from optuna.trial import FrozenTrial

    from orchestrator.tasks import Task


TOP_TABLE = 10  # rows of the leaderboard shown in the report
esc = html.escape


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><td>{esc(k)}</td><td class="text">{esc(v)}</td></tr>' for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _html_table(frame: pd.DataFrame, *, links: Sequence[str | None] = (), name: str = "") -> str:
    """A table of ``frame``'s text cells; ``links``: per row, the page its ``trial`` links to;
    ``name``: its ``data-table``."""
    head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, record in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = esc(str(value))
            if column == "trial" and i < len(links) and links[i]:
                text = f'<a href="{esc(str(links[i]))}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    tag = f'<table data-table="{esc(name)}">' if name else "<table>"
    return f'<div class="scroll">{tag}<tr>{head}</tr>{"".join(rows)}</table></div>'


def _fmt(value: Any) -> str:
    return _cell("", value)


def _summary(
    data: StudyData, ranked: list[tuple[int | None, FrozenTrial]], activity: Activity
) -> list[tuple[str, str]]:
    from orchestrator.redact import redact_text

    study_cfg = (study_attr(data.study, ATTR_SPACE) or {}).get("study") or {}
    states = Counter(t.state.name for t in data.trials)
    objectives = ", ".join(f"{d} {m}" for m, d in zip(data.metrics, data.directions, strict=True))
    window = f"all {data.n_total}"
    if data.since is not None:
        recent = format_duration(data.since)
        window = f"{len(data.trials)} of {data.n_total}: those started in the last {recent}"
    rows = [
        ("objectives", objectives),
        ("trials", f"{window} ({', '.join(f'{n} {s.lower()}' for s, n in states.items())})"),
    ]
    if activity.runs:
        first, last = activity.runs[0].start, activity.runs[-1].end
        until = f"{last:%H:%M:%S}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M:%S}"
        runs = len(activity.runs)
        rows.append(
            (
                "time",
                f"{first:%Y-%m-%d %H:%M:%S} to {until}: "
                f"{format_duration(activity.wall_seconds)} wall clock in {runs} "
                f"run{'s' * (runs > 1)} (see Compute used)",
            )
        )
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
        parent = data.parent_run_id() or "-"
        rows.append(("MLflow", f"{redact_text(data.tracker.tracking_uri)}, parent run {parent}"))
    else:
        rows.append(("MLflow", "experiment not found: curves, links and test details unavailable"))
    return rows


def _setting(value: Any) -> str:
    if isinstance(value, dict):
        name = value.get("name", "?")
        options = ", ".join(f"{k}={v}" for k, v in value.items() if k != "name")
        return f"{name} ({options})" if options else str(name)
    return str(value)


def _best_section(data: StudyData, ranked: list[tuple[int | None, FrozenTrial]]) -> str:
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
    return out + _kv_table(rows)


def _test_section(data: StudyData, figures: dict[str, str], skipped: dict[str, str]) -> str | None:
    """The best trial on the held-out test split: its metrics, the task's figures (``figures``:
    the confusion matrix of classes, a binary task's curves, a regression's residuals) and tables
    (precision, recall and F1 per class or per label); None when the study has no test result."""
    test = data.study.user_attrs.get("hpo.test_metrics") or {}
    evaluation = data.test_evaluation() or {}
    trial = evaluation.get("trial", test.get("trial"))
    if trial is None:
        return None
    task = data.task
    scores = {k.removeprefix("test_"): v for k, v in test.items() if k != "trial"}
    scores = scores or task.scalars(evaluation)
    shown = ", ".join(f"{metric_label(k)} {_fmt(v)}" for k, v in scores.items())
    averaging = "; ".join(f"{metric_label(k)}: {how}" for k, how in task.averaging.items())
    parts = [
        f"<p>Trial #{esc(str(trial))}, evaluated once at the end of the run on the test split, "
        f"which no trial saw ({esc(task.title)}"
        + (f"; {esc(averaging)}" if averaging else "")
        + f"): {esc(shown)}.</p>"
    ]
    if "threshold" in evaluation:
        parts.append(
            f'<p class="note">F1 is scored at the decision threshold the validation split chose '
            f"({_fmt(evaluation['threshold'])}); the other thresholded scores and the confusion "
            "matrix at 0.5.</p>"
        )
    for plot in task.report_plots:
        if plot in figures:
            parts.append(figures[plot])
        elif plot in skipped:
            name = esc(_TEST_PLOT_NAMES[plot])
            parts.append(f'<p class="note">{name} not drawn: {esc(skipped[plot])}.</p>')
    if evaluation.get("per_class_f1"):
        parts.append(_per_class_table(evaluation))
    if evaluation.get("per_label_f1"):
        parts.append(_per_label_table(evaluation))
    return "\n".join(parts)


_TEST_PLOT_NAMES = {
    "confusion": "Confusion matrix",
    "roc": "ROC and precision-recall curves",
    "calibration": "Calibration",
    "residuals": "Predicted against actual values",
}


def _per_class_table(evaluation: dict[str, Any]) -> str:
    names = [str(n) for n in evaluation.get("class_names", [])]
    matrix = evaluation.get("confusion_matrix") or []
    support = [sum(row) for row in matrix]
    body = "".join(
        f'<tr><td class="text">{esc(name)}</td>'
        + "".join(
            f"<td>{fmt_number(evaluation[f'per_class_{k}'][i])}</td>"
            for k in ("precision", "recall", "f1")
        )
        + f"<td>{support[i] if i < len(support) else '-'}</td></tr>"
        for i, name in enumerate(names)
    )
    return (
        '<table data-table="per-class"><tr><th class="text">class</th><th>precision</th>'
        f"<th>recall</th><th>F1</th><th>test samples</th></tr>{body}</table>"
    )


def _per_label_table(evaluation: dict[str, Any]) -> str:
    """A multi-label task's scores per label: precision, recall, F1, and how many test samples
    have the label and how many the model gave it."""
    names = [str(n) for n in evaluation.get("class_names", [])]
    positives = evaluation.get("per_label_positives") or []
    predicted = evaluation.get("per_label_predicted") or []
    body = "".join(
        f'<tr><td class="text">{esc(name)}</td>'
        + "".join(
            f"<td>{fmt_number(evaluation[f'per_label_{k}'][i])}</td>"
            for k in ("precision", "recall", "f1")
        )
        + f"<td>{positives[i] if i < len(positives) else '-'}</td>"
        + f"<td>{predicted[i] if i < len(predicted) else '-'}</td></tr>"
        for i, name in enumerate(names)
    )
    return (
        '<table data-table="per-label"><tr><th class="text">label</th><th>precision</th>'
        "<th>recall</th><th>F1</th><th>test samples with it</th><th>predicted</th></tr>"
        f"{body}</table>"
    )


def _retrain_section(shipped: dict[str, Any], task: Task) -> str:
    rows = []
    for config in shipped.get("configs", []):
        mean, std = config.get("mean", {}), config.get("std", {})
        cells = "".join(
            f"<td>{fmt_number(mean.get(k, float('nan')))} &plusmn; "
            f"{fmt_number(std.get(k, float('nan')))}</td>"
            for k in (f"test_{m}" for m in task.summary)
        )
        rows.append(
            f"<tr><td>#{esc(str(config.get('trial')))}</td>"
            f"<td>{len(config.get('seeds', []))}</td>{cells}</tr>"
        )
    heads = "".join(f"<th>{esc(metric_label(m))}</th>" for m in task.summary)
    table = f"<table><tr><th>trial</th><th>seeds</th>{heads}</tr>{''.join(rows)}</table>"
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
        f"std over seeds), at {esc(str(shipped.get('at', '?')))}.</p>" + table + note
    )


def _ensemble_section(ensemble: dict[str, Any]) -> str:
    """The study's last ensemble (``hpo ensemble``): its members and weights, the metric it was
    chosen for, and the test split, once, against the best single trial, with the cost."""
    members = "".join(
        f"<tr><td>#{esc(str(m['trial']))}</td><td>{m['picks']}</td><td>{fmt_number(m['weight'])}</td>"
        f"<td>{_fmt(m['value'])}</td></tr>"
        for m in ensemble.get("members", [])
    )
    rows = "out-of-fold" if ensemble.get("out_of_fold") else "validation"
    tests = "".join(
        f'<tr><td class="text">{esc(metric_label(k))}</td><td>{_fmt(v)}</td>'
        f"<td>{_fmt(ensemble.get('best_test', {}).get(k))}</td></tr>"
        for k, v in (ensemble.get("test") or {}).items()
    )
    model = ensemble.get("model_uri")
    note = (
        f"<p>Registered model: <code>{esc(model)}</code>; predict with <code>hpo predict "
        f"--model {esc(model)} --input FILE</code>.</p>"
        if model
        else ""
    )
    return (
        f'<p class="note">Caruana\'s selection over the best {ensemble.get("library")} trials, '
        f"{ensemble.get('size')} picks with replacement, for {esc(str(ensemble.get('metric')))} "
        f"on the {rows} predictions: ensemble {_fmt(ensemble.get('val_score'))}, best single "
        f"trial {_fmt(ensemble.get('best_val'))}; built {esc(str(ensemble.get('at', '?')))}.</p>"
        '<table data-table="ensemble-members"><tr><th>trial</th><th>picks</th><th>weight</th>'
        f"<th>its objective</th></tr>{members}</table>"
        '<table data-table="ensemble-test"><tr><th class="text">test split</th>'
        f"<th>ensemble</th><th>best trial</th></tr>{tests}</table>"
        f'<p class="note">Inference: {len(ensemble.get("members", []))} member(s), '
        f"{_fmt(ensemble.get('ms_per_sample'))} ms per sample (the best trial alone "
        f"{_fmt(ensemble.get('best_ms_per_sample'))} ms).</p>" + note
    )


def _leaderboard_section(data: StudyData, *, params: Sequence[str]) -> tuple[str, str]:
    """The title and body of the leaderboard section: the top rows, each trial linked to its
    MLflow run, and where the links lead. Its columns fit a page: the trial, its state, the
    objective(s), the task's other validation metrics, epochs and duration, and ``params`` (the
    parameters the plots show), in the space's order."""
    top = leaderboard(data, top=TOP_TABLE)
    experiment = data.experiment_id()
    base = data.ui_base()
    links = [
        run_url(base, experiment_id=experiment, run_id=run_id)
        if base is not None and experiment is not None and data.has_run(run_id)
        else None
        for run_id in top["mlflow_run_id"]
    ]
    shown = [c for c in default_columns(top) if not c.startswith("params.")]
    shown += ["epochs", "duration_s"]
    chosen = {f"params.{p}" for p in params}
    shown += [c for c in top.columns if c in chosen]
    left = sum(1 for c in top.columns if c.startswith("params.")) - len(chosen & set(top.columns))
    notes = [f"All trials: <code>hpo leaderboard --study {esc(data.name)}</code>."]
    if left > 0:
        notes.append(
            f"{left} more parameter columns, every metric and the run ids: <code>hpo leaderboard "
            f"--study {esc(data.name)} --format csv</code>."
        )
    if base is not None and any(links):
        uri = data.tracker.tracking_uri if data.tracker is not None else ""
        notes.insert(0, esc(links_note(base, served=data.ui_served(), tracking_uri=uri)))
    table = _display(top[shown])
    table.columns = [str(c).removeprefix("params.") for c in table.columns]
    body = _html_table(table, links=links, name="leaderboard")
    title = f"Leaderboard (top {min(TOP_TABLE, len(top))} of {len(data.trials)})"
    return title, body + f'<p class="note">{" ".join(notes)}</p>'


def _pareto_table(data: StudyData, front: list[FrozenTrial]) -> str:
    import pandas as pd

    rows = []
    for trial in sorted(front, key=lambda t: t.values[0]):
        row: dict[str, Any] = {"trial": trial.number}
        row.update(dict(zip(data.metrics, trial.values, strict=True)))
        row.update({f"params.{k}": v for k, v in trial.params.items()})
        rows.append(row)
    frame = _display(pd.DataFrame(rows))
    frame.columns = [str(c).removeprefix("params.") for c in frame.columns]
    return (
        f"<p>{len(front)} Pareto-optimal trials (no other trial is at least as good on every "
        "objective and better on one):</p>" + _html_table(frame)
    )
