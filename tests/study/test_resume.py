"""orchestrator/study/_resume.py: resume safety (a changed space) and warm starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mlflow_runs, run_cli, study_trials


def test_changed_space_is_refused_on_resume(tiny_space: Path, any_stores: dict[str, str]) -> None:
    assert run_cli(tiny_space, any_stores, "--n-trials", "1").exit_code == 0
    wider = run_cli(tiny_space, any_stores, "--n-trials", "2", "--set", "model.depth.high=3")
    # a changed space is refused with a readable diff
    assert wider.exit_code == 2, wider.output
    assert "model.depth: int [1, 2] -> int [1, 3] (compatible)" in wider.output
    assert "--allow-space-change" in wider.output
    # with the flag a compatible change (a wider range) is accepted and stored
    allowed = run_cli(
        tiny_space,
        any_stores,
        "--n-trials",
        "2",
        "--set",
        "model.depth.high=3",
        "--allow-space-change",
    )
    assert allowed.exit_code == 0, allowed.output
    # an incompatible change (a different fixed value) is refused even with the flag
    narrowed = run_cli(
        tiny_space,
        any_stores,
        "--n-trials",
        "3",
        "--set",
        "model.depth.high=3",
        "--set",
        "train.epochs=2",
        "--allow-space-change",
    )
    assert narrowed.exit_code == 2
    assert "train.epochs: 1 -> 2 (incompatible)" in narrowed.output


def test_warm_start_enqueues_the_best_configurations(
    tiny_space: Path, any_stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, any_stores, "--n-trials", "2").exit_code == 0
    from orchestrator.study import get_best

    best = get_best("tiny", storage=any_stores["storage"])
    result = run_cli(
        tiny_space,
        any_stores,
        "--study",
        "tiny-warm",
        "--n-trials",
        "1",
        "--warm-start",
        "tiny",
        "--top",
        "1",
    )
    assert result.exit_code == 0, result.output
    # the new study's first trial is the other study's best configuration
    (first,) = study_trials(any_stores["storage"], "tiny-warm")
    assert first.params == best["params"]
    assert first.user_attrs["hpo.warm_start_from"] == f"tiny#{best['number']}"


def test_a_resume_closes_runs_whose_end_was_still_queued(
    tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.tracking import TrialRun

    # a kill -9 right after Optuna was told: the run's end (final metrics, status) still queued
    with monkeypatch.context() as patch:
        patch.setattr(TrialRun, "end", lambda self, *args, **kwargs: setattr(self, "ended", True))
        assert run_cli(tiny_space, stores, "--n-trials", "2").exit_code == 0
    runs = {r.data.tags.get("hpo.trial"): r for r in mlflow_runs(stores["tracking_uri"], "tiny")}
    assert {runs[n].info.status for n in ("0", "1")} == {"RUNNING"}

    resumed = run_cli(tiny_space, stores, "--n-trials", "3")
    assert resumed.exit_code == 0, resumed.output
    trials = {t.number: t for t in study_trials(stores["storage"], "tiny")}
    runs = {r.data.tags.get("hpo.trial"): r for r in mlflow_runs(stores["tracking_uri"], "tiny")}
    for number in (0, 1):  # closed as their trial ended, with the objective Optuna was told
        run = runs[str(number)]
        assert run.info.status == "FINISHED"
        assert run.data.tags["hpo.state"] == "COMPLETE"
        assert run.data.metrics["best_val_accuracy"] == trials[number].value
    assert runs["2"].info.status == "FINISHED"  # the trial of the resume, ended as usual
