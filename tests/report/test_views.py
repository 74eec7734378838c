"""orchestrator/report/_views.py: what both pages draw, decided once."""

from __future__ import annotations

from collections.abc import Callable


def _plan(stores: dict[str, str], name: str) -> object:
    from orchestrator.report import load_study_data, rank_trials
    from orchestrator.report._views import plan_plots

    data = load_study_data(name, **stores)
    return data, plan_plots(data, rank_trials(data.trials, data.directions))


def test_pruned_curves_stop_at_their_last_epoch(branching: dict[str, str]) -> None:
    data, plan = _plan(branching, "branching")
    # a curve per trial, from Optuna's intermediate values (no MLflow here)
    assert [c.number for c in plan.curves] == list(range(12))
    # the two pruned trials stopped after epochs 2 and 3, at their last reported value
    stops = {c.number: c.stopped_at for c in plan.curves if c.stopped_at is not None}
    trials = {t.number: t for t in data.trials}
    assert stops == {
        10: (2, trials[10].intermediate_values[2]),
        11: (3, trials[11].intermediate_values[3]),
    }
    # completed trials have no stop mark
    assert plan.curves[0].stopped_at is None


def test_conditional_parameters_get_a_note_not_a_value(branching: dict[str, str]) -> None:
    _, plan = _plan(branching, "branching")
    # the sgd branch's parameters are plotted, and the page says what a gap means
    assert "train.optimizer.sgd.momentum" in plan.params
    assert "not sample" in plan.notes["parallel"] and "n/a" in plan.notes["parallel"]
    assert "sampled its parameter" in plan.notes["slice"]


def test_importances_on_few_trials_say_so(branching: dict[str, str]) -> None:
    _, plan = _plan(branching, "branching")
    # 10 completed trials: how many, the best 10% (1 trial) and what would be enough (50)
    note = plan.notes["importances"]
    assert note.startswith("These importances rest on 10 completed trials: treat them as a hint")
    assert "(1 here)" in note and "about 50 completed trials" in note


def test_importances_note_goes_once_there_are_enough_trials(
    make_branching: Callable[[int], dict[str, str]],
) -> None:
    # 52 trials, 50 completed: 5 in the best 10%, as PED-ANOVA's documentation asks
    _, plan = _plan(make_branching(52), "branching")
    assert "importances" not in plan.notes


def test_timeline_labels_each_worker(branching: dict[str, str]) -> None:
    _, plan = _plan(branching, "branching")
    # two processes, labelled in the order they started, named in the note
    assert {plan.workers[n] for n in range(6)} == {"w1"}
    assert {plan.workers[n] for n in range(6, 12)} == {"w2"}
    assert plan.notes["timeline"] == (
        "Worker processes: w1: node-a pid 100 (6 trials); w2: node-a pid 101 (6 trials)"
    )


def test_a_large_study_draws_a_seeded_sample_and_says_so(
    make_branching: Callable[[int], dict[str, str]], monkeypatch
) -> None:
    from orchestrator.report import _views

    monkeypatch.setattr(_views, "MAX_DRAWN", 20)  # 52 trials: more than a sample holds
    stores = make_branching(52)
    _, plan = _plan(stores, "branching")
    drawn = [t.number for t in plan.drawn.get_trials(deepcopy=False)]
    # the history and importances read every trial, the per-trial plots a sample of 20
    assert len(plan.view.get_trials(deepcopy=False)) == 52 and len(drawn) == 20
    assert drawn == sorted(drawn) and drawn != list(range(20))  # real numbers, at random
    # the same sample on every report of the same trials
    _, again = _plan(stores, "branching")
    assert [t.number for t in again.drawn.get_trials(deepcopy=False)] == drawn
    # the grey curves are the sample's; the best trials' are always drawn
    assert {c.number for c in plan.curves} == set(drawn) | set(plan.top)
    # each sampled plot's note says how many of how many
    for plot in ("parallel", "slice", "timeline", "curves"):
        assert "a random sample of 20 of the 52 trials" in plan.notes[plot], plot
    assert "random sample" not in plan.notes.get("history", "")


def test_a_small_study_draws_every_trial(branching: dict[str, str]) -> None:
    _, plan = _plan(branching, "branching")
    # 12 trials: nothing sampled, nothing said of it
    assert plan.drawn is plan.view
    assert not any("random sample" in note for note in plan.notes.values())
