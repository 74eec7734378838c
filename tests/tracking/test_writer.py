"""orchestrator/tracking/_writer.py and the trial run's writes: every MLflow call is made on one
thread in the order asked, a write asked "later" does not hold the caller up, a failure of one is
raised by the next call, and the end of a trial run waits for the run before it, not for itself."""

from __future__ import annotations

import threading
from concurrent.futures import wait
from pathlib import Path

import pytest

from orchestrator.tracking import Tracker
from orchestrator.tracking._writer import Writer


def test_calls_are_made_in_the_order_asked_on_one_thread() -> None:
    writer = Writer()
    seen: list[tuple[int, str]] = []
    for i in range(50):
        writer.later(lambda i=i: seen.append((i, threading.current_thread().name)))
    # a call waits behind everything queued before it, so it sees every earlier write
    assert writer.call(lambda: len(seen)) == 50
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"hpo-mlflow-writer"}


def test_a_later_call_does_not_hold_the_caller_up() -> None:
    writer = Writer()
    release = threading.Event()
    future = writer.later(release.wait)
    # the caller goes on while the write is still being made (were it made here, this would hang)
    assert not future.done()
    release.set()
    writer.drain()
    assert future.done()


def test_a_failed_later_call_is_raised_once_by_the_next_call() -> None:
    writer = Writer()

    def fail() -> None:
        raise OSError("disk I/O error")

    writer.later(fail)
    with pytest.raises(OSError, match="disk I/O error"):
        writer.drain()
    # raised once: the writer goes on with what is asked after
    assert writer.call(lambda: 42) == 42
    wait([writer.later(fail)])
    with pytest.raises(OSError):
        writer.later(lambda: None)  # check=True: a failure known by now first, nothing queued
    writer.later(fail)
    writer.later(lambda: None, check=False).result()  # the failure is in; check=False queues
    with pytest.raises(OSError):  # a call that waits raises it too, before it is made
        writer.call(lambda: None)


def test_a_queued_call_may_ask_for_more_without_waiting_on_itself() -> None:
    writer = Writer()
    order: list[str] = []

    def outer() -> None:
        order.append("outer")
        writer.later(lambda: order.append("inner"))  # on the writer's thread: made at once
        assert writer.call(lambda: "sync") == "sync"

    writer.later(outer)
    writer.later(lambda: order.append("next"))
    writer.drain()
    assert order == ["outer", "inner", "next"]


def test_a_trial_runs_writes_are_made_while_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = Tracker("tiny", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracker.start_parent("tiny")
    blocked, trained = threading.Event(), threading.Event()
    log_dataset = Tracker.log_dataset

    def slow_log_dataset(self: Tracker, run_id: str, name: str, **fields: object) -> None:
        blocked.set()
        # the trial's set-up write is held until its "training" has gone on without it
        assert trained.wait(timeout=30), "the trial waited for its MLflow write"
        log_dataset(self, run_id, name, **fields)

    monkeypatch.setattr(Tracker, "log_dataset", slow_log_dataset)
    run = tracker.start_trial(0, params={"lr": 0.1})
    run.log_dataset("digits", digest="abc", source=None, sizes={"train": 8}, profile={})
    assert blocked.wait(timeout=30)
    run.log_epoch(1, {"val_accuracy": 0.5})  # the caller got here while the write was held
    trained.set()
    run.end("FINISHED", state="COMPLETE", metrics={"best_val_accuracy": 0.5})
    tracker.close()
    finished = tracker.client.get_run(run.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics == {"val_accuracy": 0.5, "best_val_accuracy": 0.5}
    assert finished.data.params["lr"] == "0.1"
    assert [d.dataset.name for d in finished.inputs.dataset_inputs] == ["digits"]


def test_a_trial_run_ending_waits_for_the_run_before_it(tmp_path: Path) -> None:
    tracker = Tracker("tiny", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracker.start_parent("tiny")
    release = threading.Event()
    first = tracker.start_trial(0, params={})
    tracker.writer.later(release.wait)  # the store is slow at the first run's end
    first.end("FINISHED", state="COMPLETE")
    ended_second = threading.Event()

    def second_trial() -> None:
        second = tracker.start_trial(1, params={})
        second.end("FINISHED", state="COMPLETE")
        ended_second.set()

    worker = threading.Thread(target=second_trial)
    worker.start()
    # the writer may be one run behind, not two: the second end waits for the first
    assert not ended_second.wait(timeout=1)
    release.set()
    worker.join(timeout=30)
    assert ended_second.is_set()
    tracker.close()
    assert tracker.client.get_run(first.run_id).info.status == "FINISHED"


def test_the_writers_thread_ends_with_its_writer(tmp_path: Path) -> None:
    import gc

    tracker = Tracker("tiny", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracker.start_parent("tiny")
    run = tracker.start_trial(0, params={})
    run.end("FINISHED", state="COMPLETE")
    tracker.end_parent("FINISHED")
    thread = tracker.writer._thread
    assert thread is not None and thread.is_alive()
    del tracker, run
    gc.collect()
    # a tracker let go leaves no thread behind (read-only commands and scripts make many)
    thread.join(timeout=30)
    assert not thread.is_alive()
