"""orchestrator/cli/serve.py and orchestrator/dashboards.py: `hpo ui` and `hpo dashboard`: loopback
by default, Host checked.

Two tests start the real servers (MLflow, optuna-dashboard) on a free 127.0.0.1 port over stores
in tmp_path, poll them (bounded), query them, send a request with a foreign Host header, and
always stop the process group they started.
"""

from __future__ import annotations

import contextlib
import http.client
import json
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

START_TIMEOUT = 120.0  # seconds for a server to answer (MLflow imports slowly on a busy machine)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(
    port: int, method: str, path: str, *, host: str | None = None, body: dict | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{port}", "Content-Type": "application/json"}
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def _server(args: list[str], cwd: Path, port: int, ready_path: str) -> Iterator[None]:
    """Start `hpo ARGS` in its own process group; yield once GET ready_path answers 200."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    log = (cwd / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its children (uvicorn) join its group: stopped together
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, (cwd / f"server-{port}.log").read_text()
            with contextlib.suppress(OSError):
                if _request(port, "GET", ready_path)[0] == 200:
                    break
            assert time.monotonic() < deadline, "server did not start in time"
            time.sleep(0.5)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


# --- binding and Host rules, no server ---------------------------------------------------------


def test_loopback_names() -> None:
    from orchestrator.dashboards import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "example.org", "::"))


def test_allowed_hosts_are_the_servers_own_names() -> None:
    from orchestrator.dashboards import allowed_hosts

    # loopback: the local names, with and without the port, and nothing else
    assert allowed_hosts("127.0.0.1", 5000) == [
        "localhost",
        "localhost:5000",
        "127.0.0.1",
        "127.0.0.1:5000",
        "[::1]",
        "[::1]:5000",
    ]
    # another address: its own name; extra names as given (a port kept as it is)
    assert allowed_hosts("10.1.2.3", 8080, ["ml.example.org", "proxy:443"]) == [
        "10.1.2.3",
        "10.1.2.3:8080",
        "ml.example.org",
        "ml.example.org:8080",
        "proxy:443",
    ]


@pytest.mark.parametrize("command", ["ui", "dashboard"])
def test_remote_host_needs_a_flag(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("no server may start")

    monkeypatch.setattr(subprocess, "Popen", no_server)
    monkeypatch.setattr("orchestrator.dashboards.serve_dashboard", no_server)
    result = CliRunner().invoke(cli, [command, "--host", "0.0.0.0"])
    # bad input: exit 2, the reason and the fix, and nothing started
    assert result.exit_code == 2
    assert result.output.startswith("Error: --host 0.0.0.0: ")
    assert "add --allow-remote" in result.output


def test_ui_allow_remote_warns_and_keeps_the_host_check(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    class FakeServer:
        def __init__(self, command: list[str], **kwargs: object) -> None:
            started.append(command)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeServer)
    result = CliRunner().invoke(
        cli,
        ["ui", "--host", "10.1.2.3", "--port", "5001", "--allow-remote"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    # a warning, and MLflow started with its Host check limited to this server's names
    assert "Warning: the MLflow UI on 10.1.2.3 is reachable from the network" in result.output
    command = started[0]
    assert command[command.index("--host") + 1] == "10.1.2.3"
    assert command[command.index("--allowed-hosts") + 1] == "10.1.2.3,10.1.2.3:5001"
    assert "--disable-security-middleware" not in command


# --- the real servers --------------------------------------------------------------------------


def test_ui_serves_the_study_runs_and_refuses_foreign_hosts(workdir: Path) -> None:
    from orchestrator.tracking import Tracker

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    tracker = Tracker("ui-study", tracking_uri=uri)
    parent = tracker.start_parent("ui-study")
    for number in range(2):
        tracker.start_trial(number, params={"lr": 0.1}).end("FINISHED", state="COMPLETE")
    tracker.end_parent("FINISHED")
    port = _free_port()
    with _server(["ui", "--port", str(port), "--tracking-uri", uri], workdir, port, "/health"):
        status, body = _request(
            port,
            "POST",
            "/api/2.0/mlflow/runs/search",
            body={"experiment_ids": [tracker.experiment_id], "max_results": 100},
        )
        # the REST API lists the study's runs: the parent and its two trials
        assert status == 200
        runs = json.loads(body)["runs"]
        assert {r["info"]["run_id"] for r in runs} >= {parent}
        assert len(runs) == 3
        # a request naming another host (DNS rebinding) is refused
        status, _ = _request(
            port, "GET", "/api/2.0/mlflow/experiments/search?max_results=5", host="evil.example"
        )
        assert status == 403
        # while the server's own names work
        status, _ = _request(
            port, "GET", "/api/2.0/mlflow/experiments/search?max_results=5", host="localhost"
        )
        assert status == 200


def test_dashboard_serves_the_study_and_refuses_foreign_hosts(workdir: Path) -> None:
    import optuna

    from orchestrator.study import open_storage

    storage = str(workdir / "optuna.journal")
    study = optuna.create_study(study_name="dash-study", storage=open_storage(storage))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    port = _free_port()
    args = ["dashboard", "--port", str(port), "--storage", storage, "--study", "dash-study"]
    with _server(args, workdir, port, "/api/studies"):
        status, body = _request(port, "GET", "/api/studies")
        # the dashboard's API lists the study and its trials
        assert status == 200
        studies = json.loads(body)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["dash-study"]
        status, page = _request(port, "GET", "/dashboard/")
        assert status == 200 and b"<html" in page.lower()
        # a foreign Host header is refused, as MLflow does
        status, _ = _request(port, "GET", "/api/studies", host="evil.example")
        assert status == 403
        status, _ = _request(port, "GET", "/api/studies", host=f"localhost:{port}")
        assert status == 200
