"""Tests for orchestrator.space._yaml: YAML as people write it, and --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import SpaceError
from orchestrator.space import parse_space
from tests.space.spaces import MLP, SPACE
from tests.space.spaces import problems as _problems

INVALID = [
    pytest.param(
        "model:\n  family: mlp\n  depth: 2\n  depth: 3\n",
        "",
        "invalid YAML at line 4, column 3: duplicate key 'depth'",
        id="duplicate-key",
    ),
    pytest.param(
        "model:\n  family: mlp\n train: {epochs: 2}\n",
        "",
        "invalid YAML at line 3, column 2:",
        id="yaml-syntax",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), INVALID)
def test_invalid_space_reports_the_problem(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    # the expected problem is reported at its path, on one line
    assert any(p == path and message in m for p, m in problems), problems
    assert all("\n" not in m for _, m in problems)


def test_yaml_exponent_without_dot_is_a_float() -> None:
    space = parse_space(MLP + "train: {optimizer: {name: adam, lr: 1e-4}}")
    # YAML 1.1 would read 1e-4 as a string
    assert space.raw["train"]["optimizer"]["lr"] == 1e-4


# --- overrides -----------------------------------------------------------------------------------


def test_override_changes_a_value() -> None:
    space = parse_space(SPACE, overrides=["train.epochs=2", "study.sampler=random"])
    # the value is read as YAML and replaces the file's
    assert space.raw["train"]["epochs"] == 2
    assert space.study.sampler.name == "random"


def test_override_creates_missing_mappings_and_params() -> None:
    space = parse_space(
        MLP,
        overrides=[
            "train.early_stopping.patience=3",
            "train.epochs={type: int, low: 1, high: 4}",
        ],
    )
    # missing intermediate mappings are created; a value may be a search parameter
    assert space.raw["train"]["early_stopping"] == {"patience": 3}
    assert [p.name for p in space.parameters()] == ["train.epochs"]


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ("train.epochs", "", "override 'train.epochs' has no '='"),
        ("=3", "", "has an empty key"),
        ("train..epochs=3", "", "has an empty key"),
        ("model.family.x=1", "model.family.x", "'model.family' is 'mlp' (str) in the file"),
    ],
)
def test_malformed_override_is_reported_from_set(override: str, path: str, message: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_space(MLP, overrides=[override])
    # a malformed override is reported with source --set
    assert info.value.source == "--set"
    assert [(p.path, message in p.message) for p in info.value.problems] == [(path, True)]


def test_bad_override_value_is_validated_like_the_file() -> None:
    problems = _problems(MLP, overrides=("train.epochs=0",))
    # the same message the file would get
    assert problems == [("train.epochs", "got 0, but the value should be greater than 0")]


# --- who is blamed: the --set the user gave, or the file -----------------------------------------

CNN = """\
model:
  family: cnn
  depth: 3
  blocks: [{channels: 8}, {channels: 16}, {channels: 32}]
train:
  epochs: 3
"""
_TRAIN_KEYS = (
    "(valid: augment, batch_size, class_weight, early_stopping, epochs, grad_clip, "
    "gradient_accumulation, head_lr_factor, label_smoothing, loss, optimizer, precision, "
    "schedule)"
)


@pytest.mark.parametrize(
    ("text", "overrides", "lines"),
    [
        pytest.param(
            CNN,
            ["train.epoch=3"],
            [f"--set train.epoch=3: unknown key 'epoch'; did you mean 'epochs'? {_TRAIN_KEYS}"],
            id="unknown-key",
        ),
        pytest.param(
            CNN,
            ["train.epochs=0"],
            ["--set train.epochs=0: got 0, but the value should be greater than 0"],
            id="bad-value",
        ),
        pytest.param(
            # a problem inside the value given: its place is shown after the override
            CNN,
            ["train.optimizer={name: sgd, lrr: 0.1}"],
            [
                "--set 'train.optimizer={name: sgd, lrr: 0.1}': train.optimizer.lrr: unknown key "
                "'lrr'; did you mean 'lr'? (valid: lr, momentum, nesterov, weight_decay)"
            ],
            id="inside-the-value",
        ),
        pytest.param(
            # a rule between the override and the file: the override changed what was valid
            CNN,
            ["model.depth=2"],
            [
                "--set model.depth=2: model: blocks: a list needs exactly depth=2 entries (one "
                "per conv block), got 3; give 2 entries, change depth, or give one mapping shared "
                "by every conv block"
            ],
            id="rule-between",
        ),
        pytest.param(
            # a mapping the override created on the way to its key
            CNN,
            ["trian.epochs=2"],
            [
                "--set trian.epochs=2: trian: unknown section 'trian'; did you mean 'train'? "
                "(valid: study, data, model, train)"
            ],
            id="created-on-the-way",
        ),
        pytest.param(
            # the file's problem stays the file's, with its path; the override's is the override's
            CNN.replace("epochs: 3", "epochs: 0"),
            ["train.batch_size=0"],
            [
                "search_spaces/cnn.yaml: train.epochs: got 0, but the value should be greater "
                "than 0",
                "--set train.batch_size=0: got 0, but the value should be greater than 0",
            ],
            id="file-and-override",
        ),
        pytest.param(
            # the same key twice: the last one given is the one that counts
            CNN,
            ["train.epochs=2", "train.epochs=0"],
            ["--set train.epochs=0: got 0, but the value should be greater than 0"],
            id="last-wins",
        ),
        pytest.param(
            CNN,
            ["train.epochs=[1"],
            [
                "--set 'train.epochs=[1': invalid YAML value '[1': expected ',' or ']', but got "
                "'<stream end>'"
            ],
            id="invalid-yaml-value",
        ),
        pytest.param(
            CNN,
            ["model.family.x=1"],
            [
                "--set model.family.x=1: 'model.family' is 'cnn' (str) in the file, not a "
                "mapping; set model.family itself instead"
            ],
            id="not-a-mapping",
        ),
        pytest.param(
            # the file is to blame for a missing section, whatever the overrides set
            "data: {name: digits}\n",
            ["train.epochs=2"],
            [
                "search_spaces/cnn.yaml: model: missing 'family'; add the section: model: "
                "{family: <name>} (valid: cnn, custom, hf, mlp, rnn, transformer)"
            ],
            id="file-alone",
        ),
    ],
)
def test_a_problem_is_blamed_on_what_the_user_gave(
    text: str, overrides: list[str], lines: list[str]
) -> None:
    with pytest.raises(SpaceError) as info:
        parse_space(text, source="search_spaces/cnn.yaml", overrides=overrides)
    # each line as the CLI prints it after "Error: "
    assert str(info.value).splitlines() == lines


def test_validate_blames_the_override_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "cnn.yaml"
    path.write_text(CNN)
    result = CliRunner().invoke(
        cli, ["validate", "--space", str(path), "--set", "train.epoch=3", "--set", "model.depth=2"]
    )
    # exit 2 (bad input); each problem on its own line (file order), named by the --set that
    # caused it, never by the file
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        "Error: --set model.depth=2: model: blocks: a list needs exactly depth=2 entries (one per "
        "conv block), got 3; give 2 entries, change depth, or give one mapping shared by every "
        "conv block",
        f"Error: --set train.epoch=3: unknown key 'epoch'; did you mean 'epochs'? {_TRAIN_KEYS}",
    ]
