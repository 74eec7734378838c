"""orchestrator/tracking/_sqlite.py: a local MLflow store is whole after hpo exits, whichever way,
and created with the user's umask."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.helpers import start_hpo, start_long_run, wait_for_running_trial


def _runs_in_copy(db: Path, tmp: Path) -> int:
    # a user who copies mlflow.db alone, without its -wal file
    copy = tmp / "copy.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def _wal_bytes(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_store_is_whole_and_readable_after_a_normal_exit(
    tiny_space: Path, stores: dict[str, str], workdir: Path
) -> None:
    proc = start_hpo(
        "run", "--space", str(tiny_space), "--n-trials", "2",
        "--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"],
    )  # fmt: skip
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    db = workdir / "mlflow.db"
    # the write-ahead log is folded in: the database file alone holds the parent and both trials
    assert _wal_bytes(db) == 0
    assert _runs_in_copy(db, workdir) == 3
    # created as the user's umask says (0644 under 022), as MLflow itself would
    mode = stat.S_IMODE(db.stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)


def test_the_store_is_whole_after_sigterm(
    tiny_space: Path, stores: dict[str, str], workdir: Path
) -> None:
    proc = start_long_run(tiny_space, stores)
    try:
        wait_for_running_trial(stores["storage"], "tiny")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out
    db = workdir / "mlflow.db"
    assert _wal_bytes(db) == 0
    # the killed trial's run and the parent are in the database file itself
    assert _runs_in_copy(db, workdir) >= 2


def test_checkpoint_folds_the_log_of_every_store(tmp_path: Path) -> None:
    from orchestrator.tracking import _sqlite

    db = tmp_path / "mlflow.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    assert _wal_bytes(db) > 0  # the row is in the log, the connection still open
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_sqlite, "_WAL_STORES", {str(db)})
        assert _sqlite.checkpoint() == [str(db)]
    assert _wal_bytes(db) == 0
    conn.close()
