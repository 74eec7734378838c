"""orchestrator/study/_store.py: storage URLs validated once (bad ones refused before anything is
created, read-only commands never create a store), bounded retries of transient database errors
(also those Optuna wraps), a retried tell that is safe to repeat, and a PostgreSQL storage that
outlives its server-side connections; a missing PostgreSQL database and a storage proxy that does
not answer are one line each; the budget lock through the storage proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from orchestrator.cli import cli
from orchestrator.errors import ConfigError
from orchestrator.storage import _store as storage


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

    from orchestrator.study._trial import tell

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


def _open_at(url: str, start: float) -> str:
    """Open ``url``'s Optuna storage at wall time ``start`` (in a process of its own)."""
    import time

    from orchestrator.study import StudyStore

    time.sleep(max(0.0, start - time.time()))
    try:
        StudyStore.resolve(url).open()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_workers_opening_a_new_database_together_all_get_in(pg_database: str) -> None:
    import multiprocessing
    import time

    # six workers start at the same moment on a database with no tables yet: each of them has
    # Optuna create its tables, and those that lose the race see "already exists"
    start = time.time() + 3
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        outcomes = pool.starmap(_open_at, [(pg_database, start)] * 6)
    assert outcomes == ["ok"] * 6


def test_a_schema_race_is_retried_and_other_integrity_errors_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optuna
    from sqlalchemy.exc import IntegrityError

    calls: list[int] = []

    def racing(url: str, engine_kwargs: object) -> str:
        calls.append(1)
        if len(calls) < 3:  # another worker is creating the same tables
            raise IntegrityError("CREATE TABLE", {}, Exception('duplicate key value "pg_type"'))
        return "storage"

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    assert storage._new_rdb_storage("postgresql://h/db", {}) == "storage"
    assert len(calls) == 3
    # any other integrity error is not a race: raised at once
    calls.clear()

    def broken(url: str, engine_kwargs: object) -> str:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("null value in column"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(IntegrityError):
        storage._new_rdb_storage("postgresql://h/db", {})
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
        ("grpc://", "--storage grpc://: give only a host and a port: grpc://HOST:PORT"),
        ("grpc://h:99999", "--storage grpc://h:99999: not a valid gRPC address"),
        ("grpc://h:13000/db", "give only a host and a port"),
        ("grpc://u:s3cret@h:13000", "give only a host and a port"),
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
            "grpc://127.0.0.1:13000",
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
        "grpc://127.0.0.1:13000": "grpc",
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


def test_a_missing_postgresql_database_suggests_createdb(
    workdir: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the local server answers, the database does not exist (pg_database: the server is up)
    url = pg_database.rsplit("/", 1)[0].replace("postgres@", "postgres:s3cret@") + "/nosuchdb"
    monkeypatch.setenv("HPO_STORAGE", url)
    result = CliRunner().invoke(cli, ["studies"])
    # exit 2, one line naming the URL (redacted) and the command that creates the database
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: HPO_STORAGE postgresql://postgres:***@127.0.0.1:5432/nosuchdb: the database "
        "'nosuchdb' does not exist on that server; create it with: "
        "createdb -h 127.0.0.1 -U postgres nosuchdb"
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_storage_proxy_that_does_not_answer_is_one_line(workdir: Path) -> None:
    url = f"grpc://127.0.0.1:{_free_port()}"  # nothing listens there
    result = CliRunner().invoke(cli, ["studies", "--storage", url])
    # exit 2: the URL, what happened and the fix
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith(f"Error: --storage {url}: nothing answers there")
    assert "hpo storage-proxy --storage postgresql://" in line and "\n" not in line


def _overlaps(url: str) -> list[int]:
    """Four workers, each with its own store of ``url``, take the budget lock five times each;
    the workers found holding it while another did (none, if it excludes)."""
    import threading
    import time

    inside: list[int] = []
    overlaps: list[int] = []

    def worker(n: int) -> None:
        store = storage.StudyStore.resolve(url)  # one per worker, as in processes
        for _ in range(5):
            with store.budget_lock("tiny"):
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(n)
                time.sleep(0.01)
                inside.remove(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return overlaps


def test_the_budget_lock_through_the_proxy_excludes_other_holders(workdir: Path) -> None:
    from orchestrator.storage import start_storage_proxy

    port = _free_port()
    backend = storage.StudyStore.resolve(f"sqlite:///{workdir / 'studies.db'}")
    server = start_storage_proxy(backend, host="127.0.0.1", port=port)
    try:
        # four workers took the lock five times each, never two at once
        assert _overlaps(f"grpc://127.0.0.1:{port}") == []
        # the proxy also held the database's own lock (a file beside a SQLite database)
        assert (workdir / "studies.db.hpo-lock").exists()
        # the lock is released when its holder leaves: taken again at once, any study's
        store = storage.StudyStore.resolve(f"grpc://127.0.0.1:{port}")
        for name in ("tiny", "other", "tiny"):
            with store.budget_lock(name):
                pass
    finally:
        server.stop(0)


def test_the_budget_lock_on_postgresql_excludes_other_holders_outside_a_transaction(
    pg_database: str,
) -> None:
    import sqlalchemy

    # four workers took the lock five times each, never two at once
    assert _overlaps(pg_database) == []
    # held, the lock is the session's alone: no transaction stays open around the trial's ask
    store = storage.StudyStore.resolve(pg_database)
    watcher = sqlalchemy.create_engine(pg_database)
    with store.budget_lock("tiny"), watcher.connect() as conn:
        held = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database "
            "= (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert conn.execute(sqlalchemy.text(held)).scalar_one() == 1
        query = (
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        states = [row[0] for row in conn.execute(sqlalchemy.text(query))]
    watcher.dispose()
    assert states and "idle in transaction" not in states


def test_an_unavailable_storage_proxy_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import grpc

    class Unavailable(grpc.RpcError):  # what a gRPC call raises when the proxy is gone
        def __init__(self, code: grpc.StatusCode) -> None:
            self._code = code

        def code(self) -> grpc.StatusCode:
            return self._code

    monkeypatch.setattr(storage, "RETRY_BASE_SECONDS", 0.0)
    call, calls = _failing([Unavailable(grpc.StatusCode.UNAVAILABLE)])
    # the proxy restarting: retried like a dropped database connection
    assert storage.with_retries(call) == "done" and len(calls) == 2
    call, calls = _failing([Unavailable(grpc.StatusCode.NOT_FOUND)])
    # any other gRPC error is not retried
    with pytest.raises(Unavailable):
        storage.with_retries(call)
    assert len(calls) == 1
