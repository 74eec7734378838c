"""orchestrator/cli/proxy.py and orchestrator/study/_grpc.py: `hpo storage-proxy` serves the study
database to workers that pass --storage grpc://HOST:PORT: run, studies and best work through it,
two workers keep the exact budget, the database password stays in the proxy, and it binds to
loopback unless told otherwise and stops cleanly (130 on Ctrl-C, 143 on SIGTERM).

Each test starts the real proxy (``python -m orchestrator storage-proxy``) on a free 127.0.0.1
port over a store in tmp_path, or a PostgreSQL database of its own, and always stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import rendezvous_space, start_hpo, study_trials

START_TIMEOUT = 60.0  # seconds for the proxy to print its address (imports on a busy machine)
SENTINEL = "SENTINEL-pw-7d21a0"  # trust auth accepts any password: it must never be printed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_proxy(
    storage: str, *, sigint_ignored: bool = False
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """`hpo storage-proxy` on a free port over ``storage`` (given in HPO_STORAGE, not argv):
    the process, the grpc:// URL it printed, and its output lines so far. ``sigint_ignored``:
    started as a shell starts a background job, with SIGINT ignored."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "storage-proxy", "--port", str(port)],
        env={**os.environ, "HPO_STORAGE": storage, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint_ignored
        else None,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Workers: --storage "):
                break
        url = lines[-1].removeprefix("Workers: --storage ") if lines else ""
        assert url == f"grpc://127.0.0.1:{port}", lines
        yield proc, url, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_run_studies_and_best_work_through_the_proxy(
    workdir: Path, tiny_space: Path, stores: dict[str, str]
) -> None:
    with running_proxy(f"sqlite:///{workdir / 'studies.db'}") as (proxy, url, _):
        run = start_hpo(
            "run", "--space", str(tiny_space), "--storage", url,
            "--tracking-uri", stores["tracking_uri"], "--device", "cpu",
        )  # fmt: skip
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output
        assert f"Optuna storage: {url}" in output
        studies = CliRunner().invoke(cli, ["studies", "--storage", url])
        best = CliRunner().invoke(cli, ["best", "--study", "tiny", "--storage", url])
        assert proxy.poll() is None  # the proxy serves on
    # the study's two trials, read through the proxy and straight from the database alike
    assert studies.exit_code == 0, studies.output
    assert studies.output.startswith("tiny: 2 trials (2 complete)")
    assert best.exit_code == 0, best.output
    assert best.output.startswith("Study 'tiny': best trial #")
    trials = study_trials(f"sqlite:///{workdir / 'studies.db'}", "tiny")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]


def test_two_workers_through_the_proxy_keep_the_exact_budget(
    workdir: Path, stores: dict[str, str], pg_database: str
) -> None:
    # each worker's first trial waits until both have one: both take part
    space = rendezvous_space(workdir, parties=2)
    database = pg_database.replace("postgres@", f"postgres:{SENTINEL}@", 1)
    with running_proxy(database) as (_, url, lines):
        run = start_hpo(
            "run", "--space", str(space), "--storage", url,
            "--tracking-uri", stores["tracking_uri"], "--device", "cpu",
            "--jobs", "2", "--n-trials", "6",
        )  # fmt: skip
        output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output
    trials = study_trials(pg_database, "tiny")
    # exactly 6 finished trials, unique numbers, none beyond the budget, from two processes
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.system_attrs["hpo.worker"]["pid"] for t in trials}) == 2
    # the database password stays in the proxy: its output shows it redacted
    assert lines[0].startswith("Optuna storage proxy for postgresql://postgres:***@127.0.0.1")
    assert SENTINEL not in "\n".join(lines) + output


@pytest.mark.parametrize(
    ("sig", "code", "ignored"),
    [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)],
    ids=["ctrl-c", "sigterm", "ctrl-c-of-a-background-job"],
)
def test_the_proxy_stops_cleanly_on_a_signal(
    workdir: Path, sig: int, code: int, ignored: bool
) -> None:
    # a background job of a shell inherits SIGINT ignored: the proxy stops on it all the same
    store = f"sqlite:///{workdir / 'studies.db'}"
    with running_proxy(store, sigint_ignored=ignored) as (proxy, url, _):
        port = int(url.rsplit(":", 1)[1])
        proxy.send_signal(sig)
        started = time.monotonic()
        rest, _ = proxy.communicate(timeout=30)
        # the exit code of the signal, within a few seconds, saying so in one line
        assert proxy.returncode == code, rest
        assert time.monotonic() - started < 15
        assert rest.strip() == "Stopped."
    # the port is free again
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            "Error: --host 0.0.0.0: the storage proxy has no authentication, and this address "
            "would open it to the network",
        ),
        (
            ["--storage", "studies.journal"],
            "Error: --storage studies.journal: the storage proxy serves a database, not a "
            "journal file",
        ),
        (
            ["--storage", "grpc://127.0.0.1:13000"],
            "Error: --storage grpc://127.0.0.1:13000: the storage proxy serves a database, not "
            "another storage proxy",
        ),
    ],
    ids=["remote-host", "journal", "proxy"],
)
def test_the_proxy_refuses_bad_input(workdir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["storage-proxy", *args])
    # exit 2 before anything listens or is created
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message), result.output
    assert sorted(p.name for p in workdir.iterdir()) == []
