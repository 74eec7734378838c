"""Shared fixtures: every test's Optuna storage and MLflow store live in its tmp_path."""

from __future__ import annotations

import os
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
def tiny_space(workdir: Path) -> Path:
    path = workdir / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


def pytest_configure(config: pytest.Config) -> None:
    # tests are small: one CPU thread each is fastest on a 2-core machine (FACTS.md)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
