"""A new SQLite tracking store from a cached, empty schema instead of MLflow's migrations.

MLflow creates a new database by running every one of its alembic migrations (about 70; 1-2 s
of a run's start-up). The result is the same for every new store of one MLflow version, so it
is made once, into the user's cache (``~/.cache/hpo/mlflow-schema-<version>-<head>.db``, or under
``XDG_CACHE_HOME``), and copied to each new store's path. The cached file is named by MLflow's
migration head, read from MLflow's own alembic scripts: a different MLflow (another head) gets
its own schema, built again. It holds the tables and alembic's version only; MLflow fills in the
rest (its default experiment) when it opens the copy, as it would a store it migrated itself.

Any problem (no cache folder, scripts not found, a copy that fails) leaves the path untouched,
and MLflow creates the store its own way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "migration_head", "seed_schema"]

logger = logging.getLogger(__name__)

_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"](?P<rev>\w+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(?P<value>.*)$", re.M)


def cache_dir() -> Path:
    """hpo's cache folder: ``$XDG_CACHE_HOME/hpo``, else ``~/.cache/hpo``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hpo"


def migration_head(versions: Path | None = None) -> str:
    """The head revision of MLflow's migrations: the one no other revision builds on.

    Read from the scripts in ``versions`` (MLflow's ``store/db_migrations/versions``) without
    importing alembic.

    Raises:
        ValueError: the scripts do not have exactly one head.
    """
    if versions is None:
        import mlflow

        versions = Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        match = _REVISION.search(text)
        if match is None:
            continue
        revisions.add(match["rev"])
        down = _DOWN.search(text)
        if down is not None:
            parents.update(re.findall(r"['\"](\w+)['\"]", down["value"]))
    heads = revisions - parents
    if len(heads) != 1:
        raise ValueError(f"expected one migration head in {versions}, found {sorted(heads)}")
    return heads.pop()


def seed_schema(path: Path) -> bool:
    """Create the SQLite tracking store ``path`` (which must not exist) from the cached schema of
    this MLflow version; True if it did. False, with ``path`` left absent, on any problem."""
    try:
        template = _template()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".hpo-", delete=False) as tmp:
            staged = Path(tmp.name)
        try:
            shutil.copyfile(template, staged)
            os.link(staged, path)  # never over a store another process just created
        finally:
            staged.unlink(missing_ok=True)
        return True
    except Exception as exc:  # MLflow's own way then: slower, never wrong
        logger.debug("no cached MLflow schema for %s (%s): MLflow creates it", path, exc)
        return False


def _template() -> Path:
    """The cached empty schema of this MLflow version; built (atomically) if it is missing."""
    import mlflow

    head = migration_head()
    target = cache_dir() / f"mlflow-schema-{mlflow.__version__}-{head}.db"
    if target.exists() and _revision_of(target) == head:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".db", delete=False) as tmp:
        built = Path(tmp.name)
    try:
        _build(built)
        if _revision_of(built) != head:
            raise ValueError(f"MLflow's migrations ended at {_revision_of(built)}, not {head}")
        os.replace(built, target)
    finally:
        built.unlink(missing_ok=True)
    return target


def _build(path: Path) -> None:
    """MLflow's own creation of its tables (every migration), on an empty file: nothing else."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("VACUUM")


def _revision_of(path: Path) -> str | None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None
