"""orchestrator/tracking/_check.py and the preflight: a tracking store that cannot be written or
reached is one line and exit 2 before the first trial, in seconds, with nothing written to either
store; MLflow's HTTP retries are bounded unless the user set them."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import ConfigError
from orchestrator.tracking import check_tracking_store
from orchestrator.tracking._client import HTTP_BOUNDS, bound_http_requests
from tests.helpers import run_cli


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` made unwritable even for root (chattr +i), or the test skipped where it cannot."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _error(uri: str) -> str:
    with pytest.raises(ConfigError) as caught:
        check_tracking_store(uri, source="--tracking-uri")
    return str(caught.value)


def test_a_new_sqlite_store_in_a_folder_that_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with immutable(folder):
        message = _error(f"sqlite:///{folder}/sub/mlflow.db")
    # the URI, the OS error on the folder that refused, and the fix; nothing created there
    assert message.startswith(f"--tracking-uri sqlite:///{folder}/sub/mlflow.db: cannot write")
    assert f"PermissionError: [Errno 1] Operation not permitted: '{folder}'" in message
    assert "give a file in a folder you can write to" in message
    assert list(folder.iterdir()) == []


def test_an_existing_sqlite_store_that_cannot_be_written(tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    database.write_bytes(b"")
    with immutable(database):
        message = _error(f"sqlite:///{database}")
    assert f"PermissionError: [Errno 1] Operation not permitted: '{database}'" in message


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/proc/hpo-test/mlflow.db", "No such file or directory: '/proc'"),
        ("{tmp}/a-file/mlflow.db", "NotADirectoryError: [Errno 20] Not a directory"),
        ("{tmp}", "IsADirectoryError: [Errno 21]"),
    ],
)
def test_sqlite_paths_no_one_can_write(tmp_path: Path, path: str, error: str) -> None:
    (tmp_path / "a-file").write_text("")
    assert error in _error("sqlite:///" + path.format(tmp=tmp_path))


def test_writable_sqlite_stores_pass_and_nothing_is_created(tmp_path: Path) -> None:
    check_tracking_store(f"sqlite:///{tmp_path}/new/deeper/mlflow.db", source="--tracking-uri")
    (tmp_path / "old.db").write_bytes(b"")
    check_tracking_store(f"sqlite:///{tmp_path}/old.db", source="--tracking-uri")
    # the check wrote nothing: no folder, no database, no temporary file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]


def test_an_unreachable_server_is_named_with_its_password_redacted() -> None:
    message = _error("http://hpo:SENTINEL-pw@127.0.0.1:1")
    assert message == (
        "--tracking-uri http://hpo:***@127.0.0.1:1: the MLflow tracking server does not answer "
        "([Errno 111] Connection refused); start it (hpo ui, or mlflow server) or fix the URL"
    )


def test_http_bounds_are_defaults_the_user_can_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HTTP_BOUNDS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    bound_http_requests()
    # hpo's bounds where the user said nothing; the user's own value kept
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
    # MLflow reads them: its retry policy is the bounded one
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES

    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 3


@pytest.mark.parametrize(
    "uri",
    ["sqlite:////proc/hpo-test/mlflow.db", "http://127.0.0.1:1"],
)
def test_run_stops_before_the_first_trial_in_one_line(
    workdir: Path, tiny_space: Path, stores: dict[str, str], uri: str
) -> None:
    result = run_cli(tiny_space, {**stores, "tracking_uri": uri})
    # exit 2 (bad input), one line naming the URI, no traceback
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: --tracking-uri {uri}: ")
    assert "Traceback" not in result.output
    # nothing written to either store: no study, no MLflow database
    assert not Path(stores["storage"]).exists()
    assert not (workdir / "mlflow.db").exists()


def test_validate_checks_the_tracking_store_too(
    workdir: Path, tiny_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////proc/hpo-test/mlflow.db")
    result = CliRunner().invoke(cli, ["validate", "--space", str(tiny_space)])
    assert result.exit_code == 2, result.output
    assert "Error: MLFLOW_TRACKING_URI sqlite:////proc/hpo-test/mlflow.db: cannot write" in (
        result.output
    )


def test_a_missing_database_driver_names_the_package(
    workdir: Path, tiny_space: Path, stores: dict[str, str]
) -> None:
    uri = "postgresql+pg8000://hpo:SENTINEL-pw@127.0.0.1:5432/mlflow"
    result = run_cli(tiny_space, {**stores, "tracking_uri": uri})
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: --tracking-uri postgresql+pg8000://hpo:***@127.0.0.1:5432/mlflow: the database "
        "driver 'pg8000' is not installed; install it with: pip install 'pg8000'"
    )


def test_a_failing_mlflow_call_is_a_store_error_in_one_line(workdir: Path) -> None:
    import copy

    from orchestrator.errors import StoreError
    from orchestrator.tracking import Tracker

    tracker = Tracker("s", tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    with pytest.raises(StoreError) as caught:
        tracker.client.get_run("no-such-run")
    # MLflow's error, one line, named as MLflow's: a store fault, not a bug of hpo's
    assert caught.value.store == "MLflow"
    assert str(caught.value).startswith("MLflow: MlflowException: Run")
    assert "\n" not in str(caught.value)
    assert copy.copy(tracker.client).tracking_uri == tracker.tracking_uri
