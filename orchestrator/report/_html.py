"""The report's pages: one HTML document each, self-contained (nothing is fetched when it opens),
with the same sections: summary, best trial, test split, retrained models, ensemble, what the
winner looks at, leaderboard, plots, Pareto front, failures and compute used. The static page
shows its plots as inlined PNGs and holds no script; the interactive page shows Optuna's plotly
figures, with plotly.js inlined once.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchestrator.report._activity import Activity
from orchestrator.report._data import StudyData
from orchestrator.report._sections import (
    _best_section,
    _ensemble_section,
    _kv_table,
    _leaderboard_section,
    _pareto_table,
    _retrain_section,
    _summary,
    _test_section,
)
from orchestrator.report._usage import _compute_section, _failures_section
from orchestrator.report._views import TEST_PLOTS, Plan

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


MULTI_OBJECTIVE_PRUNING_NOTE = (
    "Pruning is off in this study: a pruner stops a trial by comparing one intermediate value "
    "with other trials', and with several objectives there is no single value to compare, so "
    "Optuna does not support pruning multi-objective trials. Every trial ran to its end."
)
PLOT_TITLES = {
    "history": "Optimization history",
    "importances": "Parameter importances",
    "parallel": "Parallel coordinates",
    "slice": "Slice plots",
    "curves": "Learning curves of all trials",
    "losses": "Losses of the top trials",
    "timeline": "Trial timeline",
    "pareto": "Pareto front",
}


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
.grid { display: flex; flex-wrap: wrap; gap: 0.5em; }
"""


def _img(plot: str, png: bytes) -> str:
    """A PNG inlined as a data URI: the static page's figure."""
    encoded = base64.b64encode(png).decode("ascii")
    title = html.escape(PLOT_TITLES.get(plot, plot))
    return f'<img data-plot="{plot}" alt="{title}" src="data:image/png;base64,{encoded}">'


def _render(
    data: StudyData,
    ranked: list[tuple[int | None, FrozenTrial]],
    *,
    plan: Plan,
    figures: Mapping[str, str],
    skipped: Mapping[str, str],
    activity: Activity,
    script: str = "",
    kind: str = "static",
    explained: str | None = None,
) -> str:
    """One page. ``figures``: each plot drawn, as an HTML fragment (an ``<img>`` or a plotly
    ``<div>``); ``script``: JavaScript the figures need (plotly.js), inlined once in the head;
    ``explained``: the section on what the winner looks at."""
    esc = html.escape
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = f"<script>{script}</script>" if script else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hpo report: {esc(data.name)}</title><style>{_CSS}</style>{head}</head><body>",
        f'<h1 data-page="{kind}">Study {esc(data.name)}</h1>',
        f'<p class="note">Report generated {esc(now)} by hpo'
        + (" (interactive: hover, zoom and pan the plots)" if kind == "interactive" else "")
        + ".</p>",
        "<h2>Summary</h2>",
        _kv_table(_summary(data, ranked, activity)),
    ]
    if data.is_multi_objective:
        parts.append(f'<p class="warn">{esc(MULTI_OBJECTIVE_PRUNING_NOTE)}</p>')
    parts += ["<h2>Best trial</h2>", _best_section(data, ranked)]
    drawn = {p: figures[p] for p in TEST_PLOTS if p in figures and plan.draws(p)}
    missed = {p: skipped[p] for p in TEST_PLOTS if p in skipped and p in plan.applicable}
    test = _test_section(data, drawn, missed)
    if test:
        parts += ["<h2>Test split</h2>", test]
    shipped = data.study.user_attrs.get("hpo.retrain")
    if shipped:
        parts += ["<h2>Retrained and shipped</h2>", _retrain_section(shipped, data.task)]
    ensemble = data.study.user_attrs.get("hpo.ensemble")
    if ensemble:
        parts += ["<h2>Ensemble</h2>", _ensemble_section(ensemble)]
    if explained:
        parts += ['<h2 id="explain">What the winner looks at</h2>', explained]
    title, board = _leaderboard_section(data, params=plan.params)
    parts += [f"<h2>{esc(title)}</h2>", board]
    for plot, plot_title in PLOT_TITLES.items():
        if plot == "pareto" and not data.is_multi_objective:
            continue
        parts.append(f'<h2 id="{plot}">{esc(plot_title)}</h2>')
        if plot in figures:
            parts.append(figures[plot])
        else:
            parts.append(f'<p class="note">Not drawn: {esc(skipped.get(plot, "no data"))}.</p>')
        if plot in plan.notes and plot in figures:
            parts.append(f'<p class="note" data-note="{plot}">{esc(plan.notes[plot])}</p>')
        if plot == "pareto":
            parts.append(_pareto_table(data, [t for r, t in ranked if r == 1]))
    parts += ["<h2>Failures</h2>", _failures_section(data)]
    parts += ["<h2>Compute used</h2>", _compute_section(data, activity)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
