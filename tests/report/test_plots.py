"""orchestrator/report/_plots.py: a plot that fails is skipped with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_failed_plot_is_skipped_with_the_first_line(
    multi: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.report import _plots, build_report

    def broken(*args: object) -> None:
        raise ValueError("shapes do not match\n  x: (3,)\n  y: (4,)")

    monkeypatch.setattr(_plots, "_history", broken)
    result = build_report("multi", out=workdir / "multi.html", log_to_mlflow=False, **multi)
    # the report is still written; the reason is the error's type and first line, which the CLI
    # prints on one line ("history: not drawn: ...") and the page shows as a note
    assert result.skipped["history"] == "could not be drawn (ValueError: shapes do not match)"
    assert "history" not in result.plots and "pareto" in result.plots
    page = (workdir / "multi.html").read_text()
    assert "Not drawn: could not be drawn (ValueError: shapes do not match)." in page


def _drawn(stores: dict[str, str], name: str) -> tuple[object, object, object]:
    from orchestrator.report import load_study_data, rank_trials
    from orchestrator.report._views import plan_plots

    data = load_study_data(name, **stores)
    ranked = rank_trials(data.trials, data.directions)
    return data, ranked, plan_plots(data, ranked)


def test_parallel_coordinates_leave_unsampled_parameters_out(branching: dict[str, str]) -> None:
    import math

    import matplotlib.pyplot as plt

    from orchestrator.report import _plots

    data, _, plan = _drawn(branching, "branching")
    figure = _plots._parallel(data, plan)
    ax = figure.axes[0]
    # every axis named in full (Optuna cuts names at 17 characters)
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["val_accuracy", *sorted(plan.params)]
    # no tick reads "None" on any axis
    ticks = [t.get_text() for a in figure.axes for t in a.get_yticklabels()]
    assert "None" not in ticks
    # a trial's line breaks off (NaN) at a parameter it did not sample: sgd's momentum is
    # missing from the adamw trials (5 of the 10 completed), and nowhere else than there
    column = names.index("train.optimizer.sgd.momentum")
    paths = next(c for c in ax.collections if hasattr(c, "get_segments")).get_paths()
    assert len(paths) == 10  # a line per completed trial
    gaps = [math.isnan(p.vertices[column][1]) for p in paths]
    assert sum(gaps) == 5
    depth = names.index("model.depth")  # sampled by every trial
    assert not any(math.isnan(p.vertices[depth][1]) for p in paths)
    plt.close(figure)


def test_learning_curves_mark_where_pruned_trials_stopped(branching: dict[str, str]) -> None:
    import matplotlib.pyplot as plt

    from orchestrator.report import _plots

    data, _, plan = _drawn(branching, "branching")
    figure = _plots._curves(data, plan)
    ax = figure.axes[0]
    # one line per trial (Optuna's intermediate values plot), every trial, pruned ones too
    assert len(ax.get_lines()) == 12
    # a red x at the last epoch of each pruned trial, at the value it stopped on, and a
    # legend that says what it is
    (marks,) = [c for c in ax.collections if "pruned" in str(c.get_label())]
    stops = {c.stopped_at for c in plan.curves if c.stopped_at}
    assert {tuple(p) for p in marks.get_offsets().tolist()} == stops
    assert {e for e, _ in stops} == {2, 3}
    # the best trials named by rank; the others grey and out of the legend
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"#{n} (rank {i + 1})" for i, n in enumerate(plan.top)] + [
        "pruned: stopped here (2 trials)"
    ]
    grey = [line for line in ax.get_lines() if line.get_color() == "#c8c8c8"]
    assert len(grey) == 12 - len(plan.top)
    plt.close(figure)


def test_confusion_heatmap_names_the_classes() -> None:
    import matplotlib.pyplot as plt

    from orchestrator.report import _plots

    evaluation = {
        "trial": 3,
        "class_names": ["cat", "dog", "bird"],
        "confusion_matrix": [[5, 1, 0], [0, 6, 0], [2, 0, 4]],
    }
    figure = _plots._confusion(evaluation)
    ax = figure.axes[0]
    # rows the true class, columns the predicted one, named; each cell holds its count
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        str(v) for row in evaluation["confusion_matrix"] for v in row
    )
    assert ax.get_title() == "trial #3: 18 test samples"
    plt.close(figure)


def test_timeline_shows_each_trials_worker(branching: dict[str, str]) -> None:
    import matplotlib.pyplot as plt

    from orchestrator.report import _plots

    _, _, plan = _drawn(branching, "branching")
    figure = _plots._timeline(plan)
    ax = figure.axes[0]
    figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    # trials 0-5 ran in worker w1, 6-11 in w2: the tick of a trial number says which
    assert any(label.endswith("w1") for label in labels)
    assert any(label.endswith("w2") for label in labels)
    assert all(
        label.split()[1] == ("w1" if int(label.split()[0]) < 6 else "w2")
        for label in labels
        if len(label.split()) == 2
    )
    plt.close(figure)


def test_slice_plots_are_a_grid_of_optuna_panels(branching: dict[str, str]) -> None:
    import io

    import matplotlib.pyplot as plt

    from orchestrator.report import _plots

    data, _, plan = _drawn(branching, "branching")
    png = _plots._slices(data, plan)
    image = plt.imread(io.BytesIO(png))
    # 8 parameters, 4 panels to a row: two rows, each panel wider than tall
    assert len(plan.params) == 8
    height, width = image.shape[:2]
    assert width > height and height > 400


def test_history_shows_pruned_trials_at_their_last_value(branching: dict[str, str]) -> None:
    from orchestrator.report import _plots
    from orchestrator.report._views import pruned_points

    data, _, plan = _drawn(branching, "branching")
    points = pruned_points(plan)
    assert [n for n, _ in points] == [10, 11]  # the branching study's two pruned trials
    page = plan.notes["history"]
    assert "pruned" in page
    png = _plots._history(data, plan)
    assert png.startswith(b"\x89PNG")


def test_slice_panels_share_the_objective_axis_and_the_colour_scale(
    branching: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt

    from orchestrator.report import _plots
    from orchestrator.report._views import slice_ranges

    data, _, plan = _drawn(branching, "branching")
    panels = []
    monkeypatch.setattr(_plots, "figure_png", lambda figure: panels.append(figure) or b"")
    monkeypatch.setattr(_plots, "grid_png", lambda pngs, columns: b"")
    _plots._slices(data, plan)
    assert len(panels) == len(plan.params) > 1
    (low, high), (first, last) = slice_ranges(data, plan)
    completed = [t.value for t in data.trials if t.state.name == "COMPLETE"]
    assert low < min(completed) and high > max(completed)
    for figure in panels:
        ax = figure.axes[0]
        assert ax.get_ylim() == pytest.approx((low, high))  # the same axis in every panel
        points = [c for c in ax.collections if c.get_array() is not None]
        assert points and all(p.get_clim() == (first, last) for p in points)  # same colours
        assert len(ax.get_yticks()) <= 7
        plt.close(figure)
