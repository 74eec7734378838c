"""Fixtures for the tests of orchestrator.space."""

from __future__ import annotations

import pytest

from orchestrator.space import Space, parse_space
from tests.space.spaces import SPACE


@pytest.fixture
def space() -> Space:
    return parse_space(SPACE, source="spaces/cnn.yaml")
