"""A running trial's learning curve reaches the study storage as it trains, not at its end."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import start_long_run, study_trials, wait_for_running_trial


def test_a_running_trials_epochs_are_in_the_storage_while_it_trains(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    proc = start_long_run(tiny_space, stores)
    try:
        wait_for_running_trial(stores["storage"], "tiny")
        seen: dict[int, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen:
            trials = study_trials(stores["storage"], "tiny")
            running = [t for t in trials if t.state.name == "RUNNING"]
            if running:
                seen = dict(running[0].intermediate_values)
            time.sleep(0.5)
        # another reader sees the epochs of a trial that is still RUNNING (500 epochs long)
        assert seen, "no epoch of the running trial reached the storage"
        assert min(seen) == 1
    finally:
        proc.kill()
        proc.communicate(timeout=60)
