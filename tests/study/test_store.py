"""orchestrator/study/_store.py: storage URLs validated once (bad ones refused before anything is
created, read-only commands never create a store), bounded retries of transient database errors
(also those Optuna wraps), a retried tell that is safe to repeat, and a PostgreSQL storage that
outlives its server-side connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from orchestrator.cli import cli
from orchestrator.errors import ConfigError
from orchestrator.study import _store as storage


def _failing(errors: list[Exception]):
    """A call that raises each of ``errors`` in turn, then returns 'done'; counts its calls."""
    calls = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "done"

    return call, calls


def _transient() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def test_transient_errors_are_retried_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(storage, "RETRY_BASE_SECONDS", 0.0)
    # two connection errors, then success: retried, and the result comes back
    call, calls = _failing([_transient(), _transient()])
    assert storage.with_retries(call, attempts=4) == "done" and len(calls) == 3
    # more errors than attempts: the last one is raised after exactly `attempts` calls
    call, calls = _failing([_transient() for _ in range(5)])
    with pytest.raises(OperationalError):
        storage.with_retries(call, attempts=4)
    assert len(calls) == 4


def test_errors_optuna_wraps_are_retried_by_their_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.exceptions import StorageInternalError

    monkeypatch.setattr(storage, "RETRY_BASE_SECONDS", 0.0)
    # Optuna's RDB storage raises a connection error inside a session as StorageInternalError
    try:
        raise StorageInternalError("An exception is raised during the commit.") from _transient()
    except StorageInternalError as exc:
        wrapped = exc
    call, calls = _failing([wrapped])
    assert storage.with_retries(call, attempts=4) == "done" and len(calls) == 2


def test_a_retried_tell_whose_first_attempt_committed_is_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optuna
    from optuna.exceptions import StorageInternalError

    from orchestrator.study import tell

    monkeypatch.setattr(storage, "RETRY_BASE_SECONDS", 0.0)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    real_tell, calls = study.tell, []

    def tell_then_lose_the_connection(*args, **kwargs):
        calls.append(kwargs)
        frozen = real_tell(*args, **kwargs)
        if len(calls) == 1:  # the commit went through; the answer did not come back
            raise StorageInternalError("commit") from _transient()
        return frozen

    monkeypatch.setattr(study, "tell", tell_then_lose_the_connection)
    tell(study, trial, 0.9)
    # retried once, and the retry leaves the finished trial as the first attempt wrote it
    assert len(calls) == 2
    (done,) = study.trials
    assert done.state.name == "COMPLETE" and done.value == 0.9


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "RETRY_BASE_SECONDS", 0.0)
    call, calls = _failing([ValueError("a bug, not a network blip")])
    with pytest.raises(ValueError):
        storage.with_retries(call, attempts=4)
    assert len(calls) == 1


def test_postgresql_storage_survives_dropped_connections(pg_database: str) -> None:
    import optuna
    import psycopg

    opened = storage.open_storage(pg_database)
    study = optuna.create_study(study_name="s", storage=opened)
    study.enqueue_trial({"x": 1.0})
    assert len(study.get_trials()) == 1
    # the server ends every connection to the database (a restart, a failover, an idle reaper)
    name = pg_database.rsplit("/", 1)[1]
    admin = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )
        (ended,) = cur.fetchone()
    admin.close()
    assert ended >= 1  # the storage's pooled connection was among them
    # the next calls get live connections: the study reads and writes as before
    study.enqueue_trial({"x": 2.0})
    queued = [t.system_attrs["fixed_params"] for t in study.get_trials()]
    assert queued == [{"x": 1.0}, {"x": 2.0}]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://bar", "--storage foo://bar: unknown storage scheme 'foo://'; give a journal file"),
        ("sqlite://o.db", "--storage sqlite://o.db: a SQLite URL names a file after three slashes"),
        ("sqlite://", "a SQLite URL names a file after three slashes"),
        ("postgresql://", "a postgresql URL needs a host and a database"),
        ("postgresql://u:s3cret@host", "--storage postgresql://u:***@host: a postgresql URL"),
    ],
)
def test_malformed_storage_urls_are_refused(url: str, message: str) -> None:
    # one line naming the URL as given (password redacted) and the accepted forms
    with pytest.raises(ConfigError) as info:
        storage.StudyStore.resolve(url)
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)
    assert info.value.exit_code == 2


def test_storage_urls_are_classified() -> None:
    kinds = {
        url: storage.StudyStore.resolve(url).kind
        for url in (
            "mlruns/optuna.journal",
            "journal:studies.log",
            "sqlite:///studies.db",
            "sqlite:////abs/studies.db",
            "postgresql://hpo@db/optuna",
            "postgresql+psycopg2://hpo@db/optuna",
            "mysql://hpo@db/optuna",
        )
    }
    assert kinds == {
        "mlruns/optuna.journal": "journal",
        "journal:studies.log": "journal",
        "sqlite:///studies.db": "sqlite",
        "sqlite:////abs/studies.db": "sqlite",
        "postgresql://hpo@db/optuna": "rdb",
        "postgresql+psycopg2://hpo@db/optuna": "rdb",
        "mysql://hpo@db/optuna": "rdb",
    }
    # Heroku's spelling works as SQLAlchemy 2's
    assert storage.StudyStore.resolve("postgres://hpo@db/o").url == "postgresql://hpo@db/o"


def test_the_environment_is_named_when_it_holds_the_bad_url(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_STORAGE", "foo://bar")
    result = CliRunner().invoke(cli, ["studies"])
    # the variable is blamed, not an option the user never gave
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: HPO_STORAGE foo://bar: unknown storage scheme")


@pytest.mark.parametrize("url", ["foo://bar", "sqlite://o.db"])
def test_a_bad_storage_url_creates_nothing(workdir: Path, tiny_space: Path, url: str) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--space", str(tiny_space), "--storage", url, "--tracking-uri",
              f"sqlite:///{workdir / 'mlflow.db'}"],
    )  # fmt: skip
    # exit 2 before any trial; no folder named after the URL, no tracking store
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in workdir.iterdir()) == ["tiny.yaml"]


@pytest.mark.parametrize("command", [["studies"], ["best", "--study", "x"]])
def test_read_only_commands_never_create_a_store(workdir: Path, command: list[str]) -> None:
    for url in ("new/optuna.journal", f"sqlite:///{workdir / 'new.db'}"):
        CliRunner().invoke(cli, [*command, "--storage", url])
        # nothing was created: no journal file, no folder, no SQLite file
        assert sorted(p.name for p in workdir.iterdir()) == []
