"""orchestrator/report/_figures.py and `hpo report --interactive`: Optuna's plotly figures on a
page that works offline."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli


def _plan(stores: dict[str, str]) -> tuple[object, object, object]:
    from orchestrator.report import load_study_data, rank_trials
    from orchestrator.report._views import plan_plots

    data = load_study_data("branching", **stores)
    ranked = rank_trials(data.trials, data.directions)
    return data, ranked, plan_plots(data, ranked)


def test_interactive_page_inlines_plotly_once(branching: dict[str, str], workdir: Path) -> None:
    from plotly.offline import get_plotlyjs

    out = workdir / "report.html"
    args = ["--storage", branching["storage"], "--tracking-uri", branching["tracking_uri"]]
    result = CliRunner().invoke(
        cli, ["report", "--study", "branching", "--out", str(out), "--interactive", *args]
    )
    assert result.exit_code == 0, result.output
    # beside the static page, named after it; its size said
    page_path = workdir / "report-interactive.html"
    assert f"Interactive page: {page_path} (" in result.output and " MB)" in result.output
    page = page_path.read_text()
    # plotly.js inlined exactly once, and no script loaded from anywhere
    assert page.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "<link" not in page
    # a few MB at most: the bundle (about 4.8 MB) and the figures
    assert page_path.stat().st_size < 6_000_000
    # Optuna's figures drawn by plotly.js, one div each (a grid of them for the slices)
    for plot in ("history", "importances", "parallel", "slice", "curves", "timeline"):
        assert f'<div data-plot="{plot}">' in page
        assert re.search(rf'Plotly\.newPlot\(\s*"plot-{plot}-0"', page)
    # the same sections as the static page, which holds no script at all
    static = out.read_text()
    assert "<script" not in static
    sections = re.findall(r"<h2[^>]*>([^<]+)</h2>", static)
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", page) == sections


def test_parallel_figure_leaves_unsampled_parameters_out(branching: dict[str, str]) -> None:
    from orchestrator.report import _figures

    data, _, plan = _plan(branching)
    figure = _figures._parallel(data, plan)
    names = ["val_accuracy", *sorted(plan.params)]
    # full names, on two lines where dotted (Optuna cuts them at 17 characters)
    assert figure.layout.xaxis.ticktext[-1] == "train.optimizer.sgd<br>momentum"
    # no tick reads "None"
    assert "None" not in [a.text for a in figure.layout.annotations]
    # a trial's line has a gap (None) where it did not sample a parameter, and says n/a there
    column = names.index("train.optimizer.sgd.momentum")
    lines = [t for t in figure.data if t.mode == "lines"]
    assert len(lines) == 10
    gaps = [t for t in lines if t.y[column] is None]
    assert len(gaps) == 5
    assert all(t.customdata[column][1] == "n/a (not sampled)" for t in gaps)
    assert all(t.customdata[column][0] == "train.optimizer.sgd.momentum" for t in lines)


def test_curves_figure_marks_where_pruned_trials_stopped(branching: dict[str, str]) -> None:
    from orchestrator.report import _figures

    data, _, plan = _plan(branching)
    figure = _figures._curves(data, plan)
    # Optuna's intermediate values: a line per trial; and one trace of red x marks
    (marks,) = [t for t in figure.data if t.name == "pruned: stopped here"]
    assert marks.marker.symbol == "x"
    trials = {t.number: t for t in data.trials}
    assert list(zip(marks.x, marks.y, strict=True)) == [
        (2, trials[10].intermediate_values[2]),
        (3, trials[11].intermediate_values[3]),
    ]
    assert marks.text == ("10", "11")


def test_timeline_figure_names_workers(branching: dict[str, str]) -> None:
    from orchestrator.report import _figures

    data, _, plan = _plan(branching)
    figure = _figures._timeline(data, plan)
    # Optuna's timeline; each trial's worker beside its number, and in the hover
    assert figure.layout.yaxis.ticktext[0] == "0 w1"
    assert figure.layout.yaxis.ticktext[-1] == "11 w2"
    hovers = [text for trace in figure.data for text in trace.text]
    assert any(
        text.startswith("trial 11: PRUNED<br>10s") and "worker w2" in text for text in hovers
    )


def test_confusion_figure_names_the_classes() -> None:
    from orchestrator.report import _figures

    figure = _figures._confusion(
        {"trial": 1, "class_names": ["cat", "dog"], "confusion_matrix": [[3, 1], [0, 4]]}
    )
    (heatmap,) = figure.data
    assert list(heatmap.x) == ["cat", "dog"] and list(heatmap.y) == ["cat", "dog"]
    assert figure.layout.title.text == "trial #1: 8 test samples"
