"""The report's page: one self-contained HTML document (every plot inlined as a PNG, nothing
fetched when it opens) and its sections: summary, best trial, retrained models, leaderboard,
plots, Pareto front, failures and compute used."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections import Counter
from typing import TYPE_CHECKING, Any

from orchestrator.config import format_duration
from orchestrator.report._data import StudyData, _duration, _epochs_run, _val_metrics
from orchestrator.report._leaderboard import _cell, _display, leaderboard
from orchestrator.report._plots import PLOT_TITLES

if TYPE_CHECKING:
    import pandas as pd
    from optuna.trial import FrozenTrial


TOP_TABLE = 10  # rows of the leaderboard shown in the report
MULTI_OBJECTIVE_PRUNING_NOTE = (
    "Pruning is off in this study: a pruner stops a trial by comparing one intermediate value "
    "with other trials', and with several objectives there is no single value to compare, so "
    "Optuna does not support pruning multi-objective trials. Every trial ran to its end."
)


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
        recent = format_duration(data.since)
        window = f"{len(data.trials)} of {data.n_total}: those started in the last {recent}"
    starts = [t.datetime_start for t in data.trials if t.datetime_start]
    ends = [t.datetime_complete for t in data.trials if t.datetime_complete]
    rows = [
        ("objectives", objectives),
        ("trials", f"{window} ({', '.join(f'{n} {s.lower()}' for s, n in states.items())})"),
    ]
    if starts:
        span = f"{min(starts):%Y-%m-%d %H:%M} to {max(ends or starts):%Y-%m-%d %H:%M}"
        wall = (max(ends) - min(starts)).total_seconds() if ends else None
        shown = format_duration(wall) if wall is not None else "-"
        rows.append(("time", f"{span} ({shown} wall clock)"))
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
        epochs = _epochs_run(trial, data.cached_histories(trial)) or 0
        n, s, e = by_state.get(trial.state.name, (0, 0.0, 0))
        by_state[trial.state.name] = (n + 1, s + seconds, e + epochs)
        total_seconds += seconds
        total_epochs += epochs
    for state, (n, seconds, epochs) in sorted(by_state.items()):
        share = 100 * seconds / total_seconds if total_seconds else 0.0
        rows.append(
            f'<tr><td class="text">{esc(state)}</td><td>{n}</td>'
            f"<td>{esc(format_duration(seconds))}</td>"
            f"<td>{share:.0f}%</td><td>{epochs}</td></tr>"
        )
    rows.append(
        f'<tr><th class="text">all</th><th>{len(data.trials)}</th>'
        f"<th>{esc(format_duration(total_seconds))}</th><th>100%</th><th>{total_epochs}</th></tr>"
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
