"""Fixtures of the model family tests: the tiny pretrained BERT, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hf_helpers import needs_hf, write_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer BERT of width 32 with its word-level tokenizer (skips without the extra)."""
    needs_hf()
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "bert")
