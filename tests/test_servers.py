"""orchestrator/servers.py: a server hpo starts runs in its own process group, and nothing of the
group outlives hpo, whatever the server does with the signal.

Each test runs a small driver process (what `hpo ui` does, without MLflow) that starts a fake
server; the fake server forks a worker, as `mlflow server` forks uvicorn, and writes both pids to a
file. The test then signals the driver alone, as `kill PID` or a Ctrl-C would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import process_running

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads process states from /proc"
)

WAIT = 60.0  # seconds, generous for a loaded machine

# the fake server: "polite" dies of SIGTERM/SIGINT, "stubborn" ignores both (as does its worker),
# "exits" leaves its worker behind and exits by itself with code 3
FAKE_SERVER = r"""
import os, signal, subprocess, sys, time
mode, pidfile = sys.argv[1], sys.argv[2]
handler = signal.SIG_IGN if mode == "stubborn" else signal.SIG_DFL
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, handler)
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {worker.pid}")
os.replace(pidfile + ".tmp", pidfile)
if mode == "exits":
    sys.exit(3)
time.sleep(600)
"""

DRIVER = r"""
import sys
from orchestrator.servers import ServerStopped, run_server
mode, pidfile, grace, fake = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
try:
    code = run_server([sys.executable, "-c", fake, mode, pidfile], grace=grace)
except ServerStopped as stopped:
    sys.exit(stopped.exit_code)
sys.exit(code)
"""


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10  # a killed process may take a moment to be reaped
    while any(process_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(process_running(pid) for pid in pids)


@contextlib.contextmanager
def _driver(tmp_path: Path, mode: str, *, grace: float) -> Iterator[tuple[subprocess.Popen, list]]:
    """The driver running a fake server; yields it and [server pid, worker pid] once started."""
    import orchestrator

    root = str(Path(orchestrator.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    pidfile = tmp_path / "pids"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, mode, str(pidfile), str(grace), FAKE_SERVER],
        env=env,
        start_new_session=True,  # the test's own signals stay out of it
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + WAIT
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the fake server did not start"
            assert driver.poll() is None or mode == "exits"
            time.sleep(0.1)
        pids = [int(p) for p in pidfile.read_text().split()]
        yield driver, pids
    finally:
        for pid in [driver.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        driver.wait(timeout=WAIT)


def test_server_runs_in_its_own_group(tmp_path: Path) -> None:
    with _driver(tmp_path, "polite", grace=10) as (driver, (server, worker)):
        # the server leads a group of its own (a Ctrl-C in the terminal reaches hpo alone),
        # and its worker is in it
        assert os.getpgid(server) == server != os.getpgid(driver.pid)
        assert os.getpgid(worker) == server


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_is_passed_on_to_the_group(tmp_path: Path, signum: int, code: int) -> None:
    with _driver(tmp_path, "polite", grace=30) as (driver, pids):
        os.kill(driver.pid, signum)  # to the driver alone
        # the shell's exit code for the signal, and the server and its worker gone
        assert driver.wait(timeout=WAIT) == code
        assert _gone(pids)


def test_a_group_that_ignores_the_signal_is_killed_after_the_grace(tmp_path: Path) -> None:
    with _driver(tmp_path, "stubborn", grace=1) as (driver, pids):
        os.kill(driver.pid, signal.SIGTERM)
        # SIGTERM is ignored by server and worker: after 1 s of grace, SIGKILL for the group
        assert driver.wait(timeout=WAIT) == 143
        assert _gone(pids)


def test_a_worker_left_behind_by_the_server_is_stopped(tmp_path: Path) -> None:
    with _driver(tmp_path, "exits", grace=10) as (driver, pids):
        # the server exited by itself (code 3): its code is the driver's, its worker is gone
        assert driver.wait(timeout=WAIT) == 3
        assert _gone(pids)


@pytest.mark.parametrize("mode", ["polite", "stubborn"])
def test_stop_group_leaves_nothing(tmp_path: Path, mode: str) -> None:
    from orchestrator.servers import group_alive, stop_group

    pidfile = tmp_path / "pids"
    server = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER, mode, str(pidfile)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + WAIT
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the fake server did not start"
            time.sleep(0.1)
        stop_group(server, signal.SIGTERM, grace=1)
        # the group is gone and its leader reaped (no zombie left to its parent)
        assert not group_alive(server.pid)
        assert server.returncode is not None
        assert _gone([int(p) for p in pidfile.read_text().split()])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=WAIT)


def test_stopped_exit_codes() -> None:
    from orchestrator.servers import ServerStopped

    # the shell's convention, 128 + the signal
    assert ServerStopped(signal.SIGTERM).exit_code == 143
    assert ServerStopped(signal.SIGINT).exit_code == 130
