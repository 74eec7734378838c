"""orchestrator/tracking/_schema.py: a new SQLite tracking store is a copy of a schema made once
per MLflow version (named by MLflow's migration head, rebuilt when it is not that head), the same
schema MLflow's migrations make; any problem falls back to MLflow's own creation."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from orchestrator.tracking import Tracker
from orchestrator.tracking._schema import cache_dir, migration_head, seed_schema


def _tables(path: Path) -> dict[str, list[str]]:
    """Each table's and index's definition, its lines sorted (MLflow's migrations write a table's
    constraints in an order that changes from one process to the next)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {name: sorted(line.strip(" ,") for line in sql.splitlines()) for name, sql in rows}


def _revision(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hpo"


def _script(folder: Path, revision: str, down: str | None) -> None:
    down_text = f'"{down}"' if down else "None"
    (folder / f"{revision}_step.py").write_text(
        f'"""a step"""\nrevision = "{revision}"\ndown_revision = {down_text}\n'
    )


def test_the_head_is_the_revision_nothing_builds_on(tmp_path: Path) -> None:
    _script(tmp_path, "aaa", None)
    _script(tmp_path, "ccc", "bbb")
    _script(tmp_path, "bbb", "aaa")
    assert migration_head(tmp_path) == "ccc"
    _script(tmp_path, "ddd", "bbb")  # a branch: two heads, no answer
    with pytest.raises(ValueError, match=r"found \['ccc', 'ddd'\]"):
        migration_head(tmp_path)


def test_the_head_read_from_the_scripts_is_mlflows_own() -> None:
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert migration_head() == _get_latest_schema_revision()


def test_a_new_store_is_the_schema_mlflow_makes_and_works(
    cache: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    # MLflow's own creation (every migration), for comparison
    with monkeypatch.context() as patch:
        patch.setattr("orchestrator.tracking._schema.seed_schema", lambda path: False)
        Tracker("s", tracking_uri=f"sqlite:///{workdir}/migrated.db")
    assert seed_schema(workdir / "seeded.db")
    # the cached schema: named by MLflow's version and head, and the same tables and indexes
    cached = cache / f"mlflow-schema-{mlflow.__version__}-{migration_head()}.db"
    assert cached.exists()
    assert _tables(workdir / "seeded.db") == _tables(workdir / "migrated.db")
    assert _revision(workdir / "seeded.db") == migration_head()
    # a tracker on a new store uses it; MLflow adds its default experiment, rooted here
    tracker = Tracker("s", tracking_uri=f"sqlite:///{workdir}/new/mlflow.db")
    default = tracker.client.get_experiment("0")
    assert default.artifact_location == str(workdir / "mlruns" / "0")
    run = tracker.start_run("r", role="trial", params={"lr": 0.1})
    run.log_epoch(1, {"val_accuracy": 0.5})
    run.end("FINISHED", state="COMPLETE")
    assert tracker.client.get_run(run.run_id).data.metrics == {"val_accuracy": 0.5}


def test_a_cached_schema_of_another_head_is_built_again(cache: Path, workdir: Path) -> None:
    import mlflow

    cached = cache / f"mlflow-schema-{mlflow.__version__}-{migration_head()}.db"
    cached.parent.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(cached)) as db:  # stale: an older migration
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        db.execute("INSERT INTO alembic_version VALUES ('0000old')")
        db.commit()
    assert seed_schema(workdir / "m.db")
    assert _revision(cached) == migration_head() == _revision(workdir / "m.db")


def test_any_problem_falls_back_to_mlflows_own_creation(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/hpo-test")  # no cache can be made there
    assert cache_dir() == Path("/proc/hpo-test/hpo")
    assert not seed_schema(workdir / "m.db")
    assert sorted(p.name for p in workdir.iterdir()) == []  # nothing left behind
    tracker = Tracker("s", tracking_uri=f"sqlite:///{workdir}/m.db")  # MLflow migrates it
    assert tracker.client.get_experiment_by_name("s") is not None


def test_an_existing_store_is_never_replaced(cache: Path, workdir: Path) -> None:
    (workdir / "m.db").write_bytes(b"mine")
    assert not seed_schema(workdir / "m.db")
    assert (workdir / "m.db").read_bytes() == b"mine"
