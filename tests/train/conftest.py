"""Fixtures of the training tests: the digits splits, loaded once per test module."""

from __future__ import annotations

import pytest

from orchestrator.config import DataConfig
from orchestrator.data import Splits, load_data


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_data(DataConfig(), seed=0)
