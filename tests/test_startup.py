"""orchestrator/startup.py: the garbage collector paused while a command starts, on again (and
start-up's objects frozen) once its run is set up; a user's own setting left as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.startup import gc_paused_at_start, pause_gc, resume_gc


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Every test starts and ends with the collector on, as a process does."""
    gc.enable()
    yield
    resume_gc()
    gc.enable()


def test_pause_and_resume_turn_the_collector_off_and_on() -> None:
    pause_gc()
    assert not gc.isenabled()
    frozen = gc.get_freeze_count()
    resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() >= frozen  # start-up's objects frozen
    resume_gc()  # again: nothing to do
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off() -> None:
    gc.disable()
    pause_gc()
    resume_gc()
    assert not gc.isenabled()  # not ours to turn on


def test_a_command_resumes_the_collector_when_it_fails() -> None:
    @gc_paused_at_start
    def command() -> None:
        assert not gc.isenabled()
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        command()
    assert gc.isenabled()


def test_a_run_is_set_up_without_the_collector_and_trains_with_it(
    tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.study._loop as loop
    import orchestrator.study._preflight as setup
    from tests.helpers import run_cli

    seen: dict[str, bool] = {}
    checks, trial_loop = setup._checks, loop._trial_loop

    def preflight(*args: object, **kwargs: object) -> object:  # the checks, whoever calls them
        seen["checks"] = gc.isenabled()
        return checks(*args, **kwargs)

    def first_trial(*args: object, **kwargs: object) -> None:
        seen["trials"] = gc.isenabled()
        trial_loop(*args, **kwargs)

    monkeypatch.setattr(setup, "_checks", preflight)
    monkeypatch.setattr(loop, "_trial_loop", first_trial)
    result = run_cli(tiny_space, stores, "--n-trials", "1", "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    # the checks (imports, data) ran with the collector paused, the trials with it on
    assert seen == {"checks": False, "trials": True}
    assert gc.isenabled()
