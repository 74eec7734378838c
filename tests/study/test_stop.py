"""orchestrator/study/_stop.py: one StopRequest serves signals, --timeout, --until, a trial's own
limit and the circuit breaker, whose message counts only the failures that tripped it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.study import StopRequest
from orchestrator.study._stop import TrialStopped
from tests.helpers import run_cli, study_trials


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_run_limits() -> None:
    clock = Clock()
    stop = StopRequest(clock=clock)
    stop.limit(timeout=60, until=1200, trial_timeout=30, max_failures=3)
    assert stop.before_trial() is None
    # a trial that cannot finish by the deadline does not start
    assert stop.before_trial(estimate=250) == "deadline"
    clock.now += 61
    assert stop.before_trial() == "timeout"


def test_a_trial_is_stopped_by_its_limit_and_by_the_deadline() -> None:
    clock = Clock()
    stop = StopRequest(clock=clock)
    stop.limit(timeout=None, until=1100, trial_timeout=30, max_failures=None)
    stop.start_trial()
    stop.check_trial()  # within both limits: nothing happens
    clock.now += 31
    with pytest.raises(TrialStopped) as timeout:
        stop.check_trial()
    assert timeout.value.kind == "timeout"
    stop.start_trial()
    clock.now = 1100
    with pytest.raises(TrialStopped) as deadline:
        stop.check_trial()
    assert deadline.value.kind == "deadline"


def test_a_signal_is_raised_once_at_the_next_safe_point() -> None:
    stop = StopRequest()
    assert stop.request(KeyboardInterrupt)
    # a second signal while the first is pending is ignored
    assert not stop.request(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        stop.check_trial()
    stop.check()  # being handled: later checks stay quiet


def test_the_breaker_counts_consecutive_failures_only() -> None:
    stop = StopRequest()
    stop.limit(timeout=None, until=None, trial_timeout=None, max_failures=3)
    for state in ("FAIL", "FAIL", "COMPLETE", "FAIL", "FAIL"):
        assert not stop.trial_ended(state, "error: ValueError: bad" if state == "FAIL" else None)
    assert stop.trial_ended("FAIL", "nan: loss is nan")
    assert (
        stop.breaker_summary()
        == "error x2 (e.g. error: ValueError: bad); nan x1 (e.g. nan: loss is nan)"
    )


FLAKY_MODULE = """
from pathlib import Path

from torch import nn


def build(params, spec):
    calls = Path("calls")
    n = int(calls.read_text()) if calls.exists() else 0
    calls.write_text(str(n + 1))
    # build 0 is the checks' before the first trial (it must work); then trials 0, 1, 3, 4
    # and 5 fail and trial 2 trains
    if n in (1, 2, 4, 5, 6):
        raise ValueError(f"bad build {n - 1}")
    return nn.Sequential(nn.Flatten(), nn.Linear(64, spec.num_classes))
"""


def test_the_breaker_message_names_the_failures_in_a_row(
    workdir: Path, any_stores: dict[str, str]
) -> None:
    module = f"flaky_{workdir.name.replace('-', '_')}"
    (workdir / f"{module}.py").write_text(FLAKY_MODULE)
    space = workdir / "flaky.yaml"
    space.write_text(
        "study: {name: flaky, n_trials: 10, seed: 0, sampler: random, pruner: none}\n"
        f"model: {{family: custom, factory: {module}:build}}\n"
        "train: {epochs: 1, batch_size: 128}\n"
    )
    result = run_cli(space, any_stores, "--max-failures", "3")
    # five failures in all, but the three in a row trip it, and the message says three
    assert result.exit_code == 1, result.output
    assert "stopped after consecutive failed trials: error x3 (e.g. " in result.output
    assert "bad build 5" in result.output
    states = [t.state.name for t in study_trials(any_stores["storage"], "flaky")]
    assert states == ["FAIL", "FAIL", "COMPLETE", "FAIL", "FAIL", "FAIL"]
