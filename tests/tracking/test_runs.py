"""orchestrator/tracking/_runs.py: what the stock MLflow UI shows of hpo's runs: who made them,
the winner's mark (moved when the best changes), the data set each run trained on."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.tracking import Tracker, objective_key


def _tracker(tmp_path: Path) -> Tracker:
    tracker = Tracker("tiny", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", source="hpo run")
    tracker.start_parent("tiny")
    return tracker


def test_the_winner_mark_moves_to_the_new_best(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    first = tracker.start_trial(0, params={"lr": 0.1}).run_id
    second = tracker.start_trial(1, params={"lr": 0.01}).run_id
    key = objective_key("val_accuracy")
    assert key == "best_val_accuracy"  # the same key on the parent and on every trial run

    tracker.mark_best(first, trial_number=0, metrics={key: 0.8}, step=1)
    tracker.mark_best(second, trial_number=1, metrics={key: 0.9}, step=2)

    client = tracker.client
    # the mark is on the new best only: removed from the old one
    assert client.get_run(second).data.tags["hpo.best"] == "true"
    assert "hpo.best" not in client.get_run(first).data.tags
    # the parent names the winner and holds the study's best under the objective's key
    parent = client.get_run(tracker.parent_run_id)
    assert parent.data.tags["hpo.best_trial"] == "1"
    assert parent.data.tags["hpo.best_run_id"] == second
    assert parent.data.metrics[key] == 0.9


def test_runs_carry_source_and_user_and_a_data_set(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    run_id = tracker.start_trial(0, params={}).run_id
    tracker.log_dataset(
        run_id, "digits", digest="abc123", source=None, sizes={"train": 10, "val": 3, "test": 3}
    )

    run = tracker.client.get_run(run_id)
    # the tags MLflow's fluent API would set, which the runs table shows
    assert run.data.tags["mlflow.source.name"] == "hpo run"
    assert run.data.tags["mlflow.user"]
    # the Dataset column: name, digest, and the split sizes as its profile (no data copied)
    (used,) = run.inputs.dataset_inputs
    assert (used.dataset.name, used.dataset.digest) == ("digits", "abc123")
    assert json.loads(used.dataset.profile) == {"train_rows": 10, "val_rows": 3, "test_rows": 3}
    assert {t.key: t.value for t in used.tags} == {"mlflow.data.context": "training"}


def test_a_data_set_source_keeps_no_password(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    run_id = tracker.start_trial(0, params={}).run_id
    tracker.log_dataset(
        run_id, "rows.csv", digest="d", source="s3://user:s3cret@host/rows.csv", sizes={}
    )
    (used,) = tracker.client.get_run(run_id).inputs.dataset_inputs
    assert "s3cret" not in used.dataset.source


def test_tag_values_name_each_value_once_without_reading_every_run(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    for number, device in enumerate(["cpu", "cuda:0", "cpu", "cuda:0", "cuda:1"]):
        tracker.start_trial(number, params={}, tags={"hpo.device": device}).end(
            "FINISHED", state="COMPLETE"
        )
    tracker.close()
    # each device once (in the order the searches found them), the parent run left out
    assert sorted(tracker.tag_values("hpo.device")) == ["cpu", "cuda:0", "cuda:1"]
    assert len(tracker.tag_values("hpo.device", most=2)) == 2  # at most 2 searches
    assert tracker.tag_values("hpo.no_such_tag") == []
