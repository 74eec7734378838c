"""Shared fixtures: every test's Optuna storage and MLflow store live in its tmp_path."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY_SPACE = """\
study:
  name: tiny
  n_trials: 2
  seed: 0
  sampler: random
  pruner: none
data:
  name: digits
model:
  family: cnn
  depth: {type: int, low: 1, high: 2}
  blocks:
    repeat: depth
    channels: {type: int, low: 4, high: 8}
train:
  epochs: 1
  batch_size: 128
  optimizer:
    type: categorical
    choices:
      sgd: {lr: {type: float, low: 0.01, high: 0.1, log: true}}
      adamw: {lr: {type: float, low: 0.001, high: 0.01, log: true}}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory with no inherited storage or tracking settings."""
    monkeypatch.chdir(tmp_path)
    for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI", "HPO_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    return tmp_path


@pytest.fixture
def stores(workdir: Path) -> dict[str, str]:
    """Storage and tracking URIs inside the test's directory."""
    return {
        "storage": str(workdir / "optuna.journal"),
        "tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
    }


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped after it, as a URL (no password: the
    server trusts local connections). Outside CI the test skips, with the reason, when no server
    answers on 127.0.0.1:5432; in CI it fails."""
    import psycopg  # psycopg 3: what a plain postgresql:// URL means to SQLAlchemy 2

    try:
        conn = psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL on 127.0.0.1:5432, none answers: {exc}")
        pytest.skip(f"no PostgreSQL server answers on 127.0.0.1:5432 ({exc})")
    conn.autocommit = True
    name = f"hpo_test_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def slurm() -> None:
    """A Slurm cluster that takes jobs here: sbatch on PATH and a node idle (``.ci/start-slurm``
    starts a one-node one). Outside CI the test skips, with the reason, when there is none; in
    CI it fails."""
    import shutil
    import subprocess

    def unavailable(reason: str) -> None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Slurm (.ci/start-slurm), none takes jobs: {reason}")
        pytest.skip(f"no Slurm cluster takes jobs here ({reason}); .ci/start-slurm starts one")

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        unavailable("sbatch or sinfo is not on PATH")
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"sinfo: {exc}")
    else:
        if out.returncode != 0 or not {"idle", "mixed"} & set(out.stdout.split()):
            unavailable(f"sinfo: {out.stderr.strip() or out.stdout.strip() or 'no node'}")


@pytest.fixture(params=["journal", "postgresql"])
def any_stores(request: pytest.FixtureRequest, stores: dict[str, str]) -> dict[str, str]:
    """``stores`` with the Optuna study on each storage in turn: the default journal file, then a
    PostgreSQL database of the test's own (see ``pg_database``)."""
    if request.param == "journal":
        return stores
    return {**stores, "storage": request.getfixturevalue("pg_database")}


@pytest.fixture
def tiny_space(workdir: Path) -> Path:
    path = workdir / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


def pytest_configure(config: pytest.Config) -> None:
    # tests are small: one CPU thread each is fastest on a 2-core machine (FACTS.md)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# --- one real study per session, for the tests that read studies back (report, retrain, predict)


def _invoke_in(root: Path, *args: str) -> str:
    """Run an hpo command in ``root`` (MLflow keeps artifacts under the working directory)."""
    from click.testing import CliRunner

    from orchestrator.cli import cli

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI", "HPO_DEVICE"):
            mp.delenv(var, raising=False)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def real_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tiny space run for real once per session: study 'tiny', 3 trials x 1 epoch, its Optuna
    journal and MLflow store in its own folder. Read it; do not add trials to it."""
    root = tmp_path_factory.mktemp("real_study")
    (root / "tiny.yaml").write_text(TINY_SPACE)
    stores = {
        "root": str(root),
        "storage": str(root / "optuna.journal"),
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
    }
    _invoke_in(
        root,
        *("run", "--space", "tiny.yaml", "--n-trials", "3"),
        *("--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"]),
    )
    return stores


@pytest.fixture(scope="session")
def retrained(real_study: dict[str, str]) -> dict[str, str]:
    """`hpo retrain --study tiny --seeds 3` of the session's real study, run once: the stores and
    the command's output (the registered model is models:/tiny/1)."""
    output = _invoke_in(
        Path(real_study["root"]),
        *("retrain", "--study", "tiny", "--seeds", "3", "--threads", "1"),
        *("--storage", real_study["storage"], "--tracking-uri", real_study["tracking_uri"]),
    )
    return {**real_study, "output": output}
