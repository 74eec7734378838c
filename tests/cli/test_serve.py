"""orchestrator/cli/serve.py and orchestrator/dashboards.py: `hpo ui` and `hpo dashboard`: loopback
by default, Host checked, no secret on a command line, nothing left running after a signal.

Three tests start the real servers (MLflow, optuna-dashboard) on a free 127.0.0.1 port over stores
in tmp_path, poll them (bounded), query them, send a request with a foreign Host header, then
signal the hpo process alone and check that it exits with the signal's code and that no process
it started is left; they always stop the process group they started.
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
from tests.helpers import process_running

START_TIMEOUT = 120.0  # seconds for a server to answer (MLflow imports slowly on a busy machine)
STOP_TIMEOUT = 60.0  # seconds for hpo to stop a server and exit (10 s of grace at most, then kill)


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


def _env() -> dict[str, str]:
    """The environment of an hpo subprocess: no inherited stores; this checkout's package."""
    import orchestrator

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    root = str(Path(orchestrator.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@contextlib.contextmanager
def _server(
    args: list[str], cwd: Path, port: int, ready_path: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `hpo ARGS` in its own process group; yield it once GET ready_path answers 200."""
    log = (cwd / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the test's own signals stay out of it
    )
    started: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, (cwd / f"server-{port}.log").read_text()
            with contextlib.suppress(OSError):
                if _request(port, "GET", ready_path)[0] == 200:
                    break
            assert time.monotonic() < deadline, "server did not start in time"
            time.sleep(0.5)
        started = _descendants(process.pid)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # hpo's group
        for pid in started:  # and whatever it started, whether it left it or not
            if process_running(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children, ...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _stop_and_check(process: subprocess.Popen[bytes], port: int, signum: int) -> None:
    """Signal the hpo process alone; it exits with the shell's code for the signal, its port is
    closed and none of the processes it started runs any more."""
    started = _descendants(process.pid)
    os.kill(process.pid, signum)
    # 128 + the signal: 143 for SIGTERM, 130 for SIGINT (within a bound for a loaded machine)
    assert process.wait(timeout=STOP_TIMEOUT) == 128 + signum
    with pytest.raises(OSError):  # nothing listens on the port any more
        _request(port, "GET", "/")
    deadline = time.monotonic() + 10  # a killed process may take a moment to be reaped
    while any(process_running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in started if process_running(pid)] == []


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


def _fake_server(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Replace `hpo ui`'s server by a record of what it would start (command, environment)."""
    started: list[tuple[list[str], dict[str, str]]] = []

    def run_server(command: list[str], *, env: dict[str, str], **kwargs: object) -> int:
        started.append((list(command), dict(env)))
        return 0

    monkeypatch.setattr("orchestrator.cli.serve.run_server", run_server)
    return started


def test_ui_allow_remote_warns_and_keeps_the_host_check(monkeypatch: pytest.MonkeyPatch) -> None:
    started = _fake_server(monkeypatch)
    result = CliRunner().invoke(
        cli,
        ["ui", "--host", "10.1.2.3", "--port", "5001", "--allow-remote"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    # a warning, and MLflow started with its Host check limited to this server's names
    assert "Warning: the MLflow UI on 10.1.2.3 is reachable from the network" in result.output
    command = started[0][0]
    assert command[command.index("--host") + 1] == "10.1.2.3"
    assert command[command.index("--allowed-hosts") + 1] == "10.1.2.3,10.1.2.3:5001"
    assert "--disable-security-middleware" not in command


def test_ui_keeps_the_store_password_off_the_command_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _fake_server(monkeypatch)
    uri = "postgresql://hpo:s3cret-pw@db.internal/mlflow"
    result = CliRunner().invoke(cli, ["ui", "--tracking-uri", uri], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    command, env = started[0]
    # the URI (password and all) reaches MLflow through its environment: nothing that `ps`
    # shows holds the password, and hpo prints it nowhere
    assert not any("s3cret-pw" in arg for arg in command)
    assert "--backend-store-uri" not in command
    assert env["MLFLOW_BACKEND_STORE_URI"] == uri
    assert "s3cret-pw" not in result.output
    # that variable is the one `mlflow server --backend-store-uri` reads in this MLflow
    from mlflow.cli import server

    option = next(p for p in server.params if p.name == "backend_store_uri")
    assert option.envvar == "MLFLOW_BACKEND_STORE_URI"


def test_ui_study_prints_its_runs_table(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.tracking import Tracker

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    Tracker("other", tracking_uri=uri)
    experiment = Tracker("ui-study", tracking_uri=uri).experiment_id
    started = _fake_server(monkeypatch)
    result = CliRunner().invoke(
        cli, ["ui", "--port", "5055", "--tracking-uri", uri, "--study", "ui-study"]
    )
    assert result.exit_code == 0, result.output
    # the study's runs table in MLflow 3's model-training view, on this UI's port
    url = f"http://127.0.0.1:5055/#/experiments/{experiment}/runs?workflowType=machine_learning"
    assert f"Study 'ui-study', its runs: {url}" in result.output
    assert len(started) == 1

    # a study MLflow does not have: bad input (exit 2), one line, and no server started
    result = CliRunner().invoke(cli, ["ui", "--tracking-uri", uri, "--study", "nope"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: --study nope: no MLflow experiment of that name in ")
    assert len(started) == 1


def test_ui_on_a_tracking_server_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    started = _fake_server(monkeypatch)
    monkeypatch.setattr("orchestrator.tracking.experiment_id_of", lambda name, **kwargs: "4")
    monkeypatch.setattr("orchestrator.tracking.has_trials_view", lambda name, **kwargs: False)
    monkeypatch.setattr("orchestrator.tracking.study_objective", lambda name, **kwargs: None)
    uri = "https://u:pw-secret@mlflow.internal:5000"
    result = CliRunner().invoke(cli, ["ui", "--tracking-uri", uri, "--study", "s"])
    # the server serves its own UI: hpo says where (the study's runs too), starts nothing
    assert result.exit_code == 0, result.output
    assert started == []
    assert "serves its own MLflow UI: https://mlflow.internal:5000\n" in result.output
    runs = "https://mlflow.internal:5000/#/experiments/4/runs?workflowType=machine_learning"
    assert f"Study 's', its runs: {runs}" in result.output
    assert "pw-secret" not in result.output


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("[::1]:8080", 200),  # IPv6 Host headers arrive bracketed
        ("[::1]", 200),
        ("LOCALHOST:8080", 200),  # names compare without case
        ("127.0.0.1:8080", 200),
        ("[::2]:8080", 403),
        (":", 403),  # what "[::1]" matched as a set of characters before
        ("localhost:9999", 403),
        ("evil.example", 403),
        ("", 403),
    ],
)
def test_dashboard_host_guard(header: str, status: int) -> None:
    from orchestrator.dashboards import allowed_hosts, host_guard

    def app(environ: dict, start_response: object) -> list[bytes]:
        start_response("200 OK", [])  # type: ignore[operator]
        return [b"ok"]

    guarded = host_guard(app, allowed_hosts("127.0.0.1", 8080))
    answered: list[str] = []
    guarded({"HTTP_HOST": header}, lambda line, headers: answered.append(line))
    # exactly the printed names are accepted, with and without the port
    assert int(answered[0].split()[0]) == status


def test_dashboard_host_guard_patterns() -> None:
    from orchestrator.dashboards import host_guard

    def app(environ: dict, start_response: object) -> list[bytes]:
        start_response("200 OK", [])  # type: ignore[operator]
        return [b"ok"]

    guarded = host_guard(app, ["*.example.org", "[fe80::1]:8080"])
    for header, status in [
        ("ml.example.org", 200),  # "*" stands for any name part
        ("example.org", 403),
        ("[fe80::1]:8080", 200),
        ("f:8080", 403),
    ]:
        answered: list[str] = []
        guarded({"HTTP_HOST": header}, lambda line, headers, a=answered: a.append(line))
        assert int(answered[0].split()[0]) == status, header


# --- the closing summary of hpo run: where the runs table is -------------------------------------


def _result(tracking_uri: str) -> object:
    from orchestrator.study import StudyResult

    return StudyResult(
        study_name="digits cnn",
        storage="mlruns/optuna.journal",
        tracking_uri=tracking_uri,
        parent_run_id="abc123",
        experiment_id="7",
        n_trials=2,
        finished=2,
    )


def test_summary_names_the_runs_table(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli._output import _print_summary
    from orchestrator.tracking import default_tracking_uri

    # the study's saved view of its runs table (its trial runs, sorted by the objective, with
    # the objective and state columns), which the run stored on the experiment
    url = "/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=hpo-trials"
    # a local store elsewhere: the hpo ui command that serves it, and the address it opens
    _print_summary(_result("sqlite:////data/ml.db"))
    assert (
        "Runs table: hpo ui --study 'digits cnn' --tracking-uri sqlite:////data/ml.db, then "
        f"open http://127.0.0.1:5000{url}\n"
    ) in capsys.readouterr().out
    # the default store of hpo ui: no --tracking-uri needed
    _print_summary(_result(default_tracking_uri()))
    assert (
        f"Runs table: hpo ui --study 'digits cnn', then open http://127.0.0.1:5000{url}\n"
        in capsys.readouterr().out
    )
    # a tracking server: its own UI, no password
    _print_summary(_result("https://u:***@mlflow.internal:5000"))
    assert f"Runs table: https://mlflow.internal:5000{url}\n" in capsys.readouterr().out


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
    args = ["ui", "--port", str(port), "--tracking-uri", uri, "--study", "ui-study"]
    with _server(args, workdir, port, "/health") as process:
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
        # SIGTERM to hpo alone: exit 143, and MLflow and its workers are gone with it
        _stop_and_check(process, port, signal.SIGTERM)
    log = (workdir / f"server-{port}.log").read_text()
    runs_url = f"/#/experiments/{tracker.experiment_id}/runs?workflowType=machine_learning"
    assert f"Study 'ui-study', its runs: http://127.0.0.1:{port}{runs_url}" in log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dashboard_serves_the_study_and_refuses_foreign_hosts(workdir: Path, signum: int) -> None:
    import optuna

    from orchestrator.storage import open_storage

    storage = str(workdir / "optuna.journal")
    study = optuna.create_study(study_name="dash-study", storage=open_storage(storage))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    port = _free_port()
    args = ["dashboard", "--port", str(port), "--storage", storage, "--study", "dash-study"]
    with _server(args, workdir, port, "/api/studies") as process:
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
        status, _ = _request(port, "GET", "/api/studies", host=f"[::1]:{port}")
        assert status == 200  # one of the accepted names it printed
        # Ctrl-C or SIGTERM to hpo: exit 130 or 143, the port closed
        _stop_and_check(process, port, signum)
