"""Tests for orchestrator.space._load: a space from a file, from text, from a stored mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import SpaceError
from orchestrator.space import Space, load_space, parse_space_dict
from tests.space.spaces import MLP, SPACE


def test_space_error_names_file_path_and_message(tmp_path: Path) -> None:
    path = tmp_path / "cnn.yaml"
    path.write_text(MLP + "train: {epochs: abc}\n")
    with pytest.raises(SpaceError) as info:
        load_space(path)
    # the CLI prints `file: path: message`
    assert str(info.value) == f"{path}: train.epochs: expected an integer, got 'abc' (str)"


def test_missing_file_is_a_space_error(tmp_path: Path) -> None:
    with pytest.raises(SpaceError) as info:
        load_space(tmp_path / "nope.yaml")
    # one clear problem, not a bare FileNotFoundError
    assert "file not found" in str(info.value)


def test_round_trip_through_raw(space: Space) -> None:
    stored = json.loads(json.dumps(space.raw))
    again = parse_space_dict(stored, source="elsewhere.yaml")
    # the stored mapping reproduces the same space, name included
    assert again.parameters() == space.parameters()
    assert again.study == space.study
    assert again.fixed_params() == space.fixed_params()


def test_validate_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys; from orchestrator.space import parse_space, describe_space; "
        f"describe_space(parse_space({SPACE!r})); "
        "print(sorted(m for m in ('torch', 'optuna', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # hpo validate stays fast
    assert out.stdout.strip() == "[]"
