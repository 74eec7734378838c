"""Tests for orchestrator/models: the registry, the mlp and cnn families."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from orchestrator.data import DataSpec
from orchestrator.errors import DataError, TrialFailure
from orchestrator.models import (
    FAMILIES,
    build_model,
    check_compatible,
    count_parameters,
    family_config,
    parse_model_config,
)

DIGITS = DataSpec(
    kind="image", input_shape=(1, 8, 8), num_classes=10, class_names=list("0123456789")
)
RGB = DataSpec(kind="image", input_shape=(3, 32, 28), num_classes=4, class_names=list("abcd"))
TABLE = DataSpec(kind="features", input_shape=(13,), num_classes=3, class_names=list("abc"))


def _logits(config: dict, spec: DataSpec, n: int = 5) -> torch.Tensor:
    model = build_model(parse_model_config(config), spec)
    model.eval()  # batch norm in eval mode, so any batch size works
    return model(torch.randn(n, *spec.input_shape))


@pytest.mark.parametrize(
    "config",
    [
        {"family": "mlp"},
        {"family": "mlp", "depth": 0},
        {"family": "mlp", "depth": 3, "layers": {"width": 16, "dropout": 0.5}, "norm": "batch"},
        {
            "family": "mlp",
            "depth": 2,
            "layers": [{"width": 8}, {"width": 4, "dropout": 0.1}],
            "activation": "gelu",
            "norm": "layer",
        },
    ],
)
@pytest.mark.parametrize("spec", [DIGITS, TABLE, RGB])
def test_mlp_output_shape(config: dict, spec: DataSpec) -> None:
    # one logit per class for every sample, whatever the input's shape (the mlp flattens it)
    assert _logits(config, spec).shape == (5, spec.num_classes)


@pytest.mark.parametrize(
    "config",
    [
        {"family": "cnn"},
        {"family": "cnn", "depth": 3, "blocks": {"channels": 8, "pool": "max"}},
        {"family": "cnn", "depth": 1, "batch_norm": False, "head_hidden": 16, "head_dropout": 0.2},
        {
            "family": "cnn",
            "depth": 2,
            "blocks": [
                {"channels": 4, "kernel_size": 5, "pool": "avg", "dropout": 0.1},
                {"channels": 6, "kernel_size": 1, "pool": "none"},
            ],
            "activation": "silu",
        },
        {"family": "cnn", "depth": 6, "blocks": {"channels": 2, "pool": "none"}},
    ],
)
@pytest.mark.parametrize("spec", [DIGITS, RGB])
def test_cnn_output_shape(config: dict, spec: DataSpec) -> None:
    # (N, num_classes) for one- and three-channel images of square and non-square sizes
    assert _logits(config, spec).shape == (5, spec.num_classes)


def test_seeded_build_is_reproducible() -> None:
    # the same seed gives the same initial weights, and the global generator is left alone
    config = family_config("cnn")(head_hidden=8)
    state = torch.random.get_rng_state()
    first = build_model(config, DIGITS, seed=3).state_dict()
    second = build_model(config, DIGITS, seed=3).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = build_model(config, DIGITS, seed=4).state_dict()
    assert not torch.equal(first["features.0.weight"], other["features.0.weight"])


def test_count_parameters() -> None:
    # depth 0 is logistic regression: 64 x 10 weights + 10 biases
    model = build_model(family_config("mlp")(depth=0), DIGITS)
    assert count_parameters(model) == 650
    # frozen parameters do not count
    for p in model.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"family": "mlp", "depth": 3, "layers": [{"width": 8}]}, "a list needs exactly depth=3"),
        ({"family": "mlp", "depth": 0, "layers": [{"width": 8}]}, "a list needs exactly depth=0"),
        ({"family": "cnn", "depth": 1, "blocks": [{}, {}]}, "a list needs exactly depth=1"),
        ({"family": "cnn", "blocks": {"kernel_size": 4}}, "kernel_size must be odd"),
        ({"family": "cnn", "depth": 0}, "greater than or equal to 1"),
        ({"family": "mlp", "layers": {"width": 0}}, "greater than 0"),
        ({"family": "mlp", "layers": {"dropout": 1.0}}, "less than 1"),
        ({"family": "mlp", "widht": 3}, "Extra inputs are not permitted"),
        (
            {"family": "mlp", "activation": "swish"},
            "'relu', 'gelu', 'silu', 'tanh' or 'leaky_relu'",
        ),
    ],
)
def test_invalid_configs(config: dict, message: str) -> None:
    # each broken rule is rejected when the config is parsed, naming the rule
    with pytest.raises(ValidationError, match=message):
        parse_model_config(config)


def test_too_many_poolings_fail_the_trial() -> None:
    # 4 poolings halve 8x8 below one pixel: the trial fails with the reason and the fix
    config = family_config("cnn")(depth=4)
    with pytest.raises(TrialFailure) as info:
        build_model(config, DIGITS)
    assert str(info.value) == (
        "cnn: 4 poolings need inputs of at least 16x16, got 8x8; "
        "lower model.depth or set pool: none"
    )
    assert info.value.kind == "error"
    # three poolings still fit: 8 -> 4 -> 2 -> 1
    assert _logits({"family": "cnn", "depth": 3}, DIGITS).shape == (5, 10)


def test_unknown_family() -> None:
    # the message lists the valid names
    with pytest.raises(ValueError, match=r"unknown family 'rnn'; valid: cnn, mlp"):
        family_config("rnn")
    with pytest.raises(ValueError, match=r"model.family: missing; valid: cnn, mlp"):
        parse_model_config({"depth": 2})


def test_check_compatible() -> None:
    # every family takes images; a cnn cannot take features, and the message says who can
    for family in FAMILIES:
        check_compatible(family, DIGITS)
    check_compatible("mlp", TABLE)
    with pytest.raises(DataError) as info:
        check_compatible("cnn", TABLE)
    assert str(info.value) == (
        "model.family: cnn takes image data, but the data is features of shape (13,); "
        "use one of: mlp"
    )
    # build() refuses too, should check_compatible be skipped
    with pytest.raises(DataError):
        build_model(family_config("cnn")(), TABLE)


def test_family_configs_are_frozen() -> None:
    # a resolved config never changes once parsed
    config = family_config("mlp")()
    with pytest.raises(ValidationError):
        config.depth = 5  # type: ignore[misc]


def test_family_config_does_not_import_torch() -> None:
    # parsing a model config (hpo validate) must stay cheap: no torch import
    code = (
        "import sys, orchestrator.models as m\n"
        "for name in m.FAMILIES: m.family_config(name)()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
