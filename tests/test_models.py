"""Tests for orchestrator/models: the registry and every family (mlp, cnn, rnn, transformer,
custom)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from orchestrator.data import DataSpec
from orchestrator.errors import ConfigError, DataError, TrialFailure
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
SIGNAL = DataSpec(
    kind="sequence", input_shape=(2, 40), num_classes=10, class_names=list("0123456789")
)
TEXT = DataSpec(
    kind="tokens", input_shape=(12,), num_classes=3, class_names=list("abc"), vocab_size=30
)


def _batch(spec: DataSpec, n: int = 5) -> torch.Tensor:
    """Random input for ``spec``; token rows end in padding, and one row is empty."""
    if spec.kind != "tokens":
        return torch.randn(n, *spec.input_shape)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2, spec.vocab_size or 2, (n, *spec.input_shape), generator=gen)
    ids[0, 4:] = 0  # a short text
    ids[1] = 0  # an empty one
    return ids


def _logits(config: dict, spec: DataSpec, n: int = 5) -> torch.Tensor:
    model = build_model(parse_model_config(config), spec)
    model.eval()  # batch norm in eval mode, so any batch size works
    return model(_batch(spec, n))


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
@pytest.mark.parametrize("spec", [DIGITS, RGB, SIGNAL, TEXT])
def test_cnn_output_shape(config: dict, spec: DataSpec) -> None:
    # (N, num_classes) for one- and three-channel images of square and non-square sizes (2D),
    # for multi-channel signals and for token ids (1D)
    assert _logits(config, spec).shape == (5, spec.num_classes)


@pytest.mark.parametrize("pool", ["flatten", "avg", "max"])
@pytest.mark.parametrize("spec", [DIGITS, SIGNAL, TEXT])
def test_cnn_global_pool(pool: str, spec: DataSpec) -> None:
    # flattening or pooling the last feature map both end in one logit per class
    config = {"family": "cnn", "global_pool": pool, "head_hidden": 8}
    assert _logits(config, spec).shape == (5, spec.num_classes)


def test_cnn_uses_1d_convolutions_for_sequences_and_tokens() -> None:
    # the data's kind picks the convolution: 2D for images, 1D for signals and embedded tokens
    config = parse_model_config({"family": "cnn", "embedding_dim": 16})
    convs = {
        name: {type(m).__name__ for m in build_model(config, spec).modules()} & {"Conv1d", "Conv2d"}
        for name, spec in (("image", DIGITS), ("sequence", SIGNAL), ("tokens", TEXT))
    }
    assert convs == {"image": {"Conv2d"}, "sequence": {"Conv1d"}, "tokens": {"Conv1d"}}
    text_model = build_model(config, TEXT)
    assert text_model.embedding.weight.shape == (30, 16)  # type: ignore[union-attr]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("spec", [SIGNAL, TEXT])
def test_rnn_output_shape(cell: str, pooling: str, spec: DataSpec) -> None:
    # every cell and pooling, uni- and bidirectional, on signals and on padded token rows
    for bidirectional, layers in ((False, 1), (True, 2)):
        config = {
            "family": "rnn",
            "cell": cell,
            "pooling": pooling,
            "bidirectional": bidirectional,
            "layers": layers,
            "hidden_size": 8,
            "dropout": 0.1,
            "embedding_dim": 6,
        }
        logits = _logits(config, spec)
        assert logits.shape == (5, spec.num_classes)
        assert torch.isfinite(logits).all()  # an empty text row gives finite logits too


def test_rnn_never_reads_padding() -> None:
    # token rows are packed: extra padding after a text changes nothing, for every pooling
    longer = DataSpec(
        kind="tokens", input_shape=(20,), num_classes=3, class_names=list("abc"), vocab_size=30
    )
    for pooling in ("last", "mean", "max", "attention"):
        config = parse_model_config(
            {"family": "rnn", "pooling": pooling, "bidirectional": True, "hidden_size": 8}
        )
        short_model = build_model(config, TEXT, seed=0).eval()
        long_model = build_model(config, longer, seed=0).eval()
        ids = _batch(TEXT)
        padded = torch.cat([ids, torch.zeros(5, 8, dtype=ids.dtype)], dim=1)
        torch.testing.assert_close(short_model(ids), long_model(padded))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize("patch_size", [1, 3])
@pytest.mark.parametrize("spec", [SIGNAL, TEXT, DIGITS, RGB])
def test_transformer_output_shape(
    pooling: str, positions: str, patch_size: int, spec: DataSpec
) -> None:
    # tokens embedded; signals and images cut into patches (3 divides neither 40 nor 32x28)
    config = {
        "family": "transformer",
        "layers": 1,
        "d_model": 16,
        "heads": 2,
        "ff_size": 32,
        "pooling": pooling,
        "positions": positions,
        "patch_size": patch_size,
    }
    logits = _logits(config, spec)
    assert logits.shape == (5, spec.num_classes)
    assert torch.isfinite(logits).all()


def test_transformer_patches_set_the_number_of_tokens() -> None:
    # 40 steps in patches of 4: 10 tokens (+1 cls); an 8x8 image in 3x3 patches: 3x3 tokens
    def positions(spec: DataSpec, patch_size: int) -> int:
        config = parse_model_config({"family": "transformer", "patch_size": patch_size})
        return build_model(config, spec).positions.shape[1]  # type: ignore[union-attr]

    assert positions(SIGNAL, 4) == 11
    assert positions(DIGITS, 3) == 10
    assert positions(TEXT, 4) == 13  # patch_size does not apply to tokens


def test_transformer_heads_must_divide_d_model() -> None:
    # the rule is checked on the config, so a sampled pair that breaks it fails the trial
    with pytest.raises(ValidationError, match="heads must divide d_model, got heads=3"):
        parse_model_config({"family": "transformer", "d_model": 64, "heads": 3})


def _train_step_lowers_loss(config: dict, spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build_model(parse_model_config(config), spec, seed=0)
    model.train()  # dropout is 0 in every config used, so the loss is a fixed function
    x = _batch(spec, 16)
    y = torch.arange(16) % spec.num_classes
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = nn.functional.cross_entropy(model(x), y)
    assert after < loss.detach()


STEP_CASES = [
    ({"family": "mlp", "layers": {"width": 16}}, DIGITS),
    ({"family": "mlp", "layers": {"width": 16}}, TABLE),
    ({"family": "mlp", "layers": {"width": 16}}, SIGNAL),
    ({"family": "cnn", "blocks": {"channels": 8}}, DIGITS),
    ({"family": "cnn", "blocks": {"channels": 8}}, SIGNAL),
    ({"family": "cnn", "blocks": {"channels": 8}, "embedding_dim": 8}, TEXT),
    ({"family": "rnn", "hidden_size": 16}, SIGNAL),
    ({"family": "rnn", "hidden_size": 16, "cell": "lstm", "pooling": "attention"}, TEXT),
    ({"family": "transformer", "d_model": 16, "heads": 2, "dropout": 0.0}, SIGNAL),
    ({"family": "transformer", "d_model": 16, "heads": 2, "dropout": 0.0}, TEXT),
    ({"family": "transformer", "d_model": 16, "heads": 2, "dropout": 0.0, "patch_size": 2}, RGB),
]


@pytest.mark.parametrize(
    ("config", "spec"), STEP_CASES, ids=[f"{c['family']}-{s.kind}" for c, s in STEP_CASES]
)
def test_one_optimizer_step_lowers_the_loss(config: dict, spec: DataSpec) -> None:
    # every family learns: one Adam step on a batch lowers that batch's loss
    _train_step_lowers_loss(config, spec)


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


def test_too_many_poolings_on_a_sequence_fail_the_trial() -> None:
    # 40 steps allow 5 poolings (40 -> 1), not 6
    with pytest.raises(TrialFailure, match=r"6 poolings need inputs of at least 64, got 40"):
        build_model(family_config("cnn")(depth=6), SIGNAL)
    assert _logits({"family": "cnn", "depth": 5}, SIGNAL).shape == (5, 10)


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
    valid = "cnn, custom, hf, mlp, rnn, transformer"
    with pytest.raises(ValueError, match=rf"unknown family 'gan'; valid: {valid}"):
        family_config("gan")
    with pytest.raises(ValueError, match=rf"model.family: missing; valid: {valid}"):
        parse_model_config({"depth": 2})


@pytest.mark.parametrize(
    ("family", "spec", "message"),
    [
        (
            "cnn",
            TABLE,
            "model.family: cnn takes image, sequence or tokens data, but the data is features "
            "of shape (13,); use one of: custom, mlp",
        ),
        (
            "rnn",
            DIGITS,
            "model.family: rnn takes sequence or tokens data, but the data is image of shape "
            "(1, 8, 8); use one of: cnn, custom, mlp, transformer",
        ),
        (
            "mlp",
            TEXT,
            "model.family: mlp takes image, sequence or features data, but the data is tokens "
            "of shape (12,); use one of: cnn, custom, hf, rnn, transformer",
        ),
    ],
)
def test_check_compatible_refuses(family: str, spec: DataSpec, message: str) -> None:
    # a family that cannot take the data: the message names the kind and who can take it
    with pytest.raises(DataError) as info:
        check_compatible(family, spec)
    assert str(info.value) == message
    # build() refuses too, should check_compatible be skipped
    if family != "mlp":
        with pytest.raises(DataError):
            build_model(family_config(family)(), spec)


def test_check_compatible_accepts() -> None:
    # what each family takes, per the registry
    accepted = {
        "mlp": [DIGITS, TABLE, SIGNAL],
        "cnn": [DIGITS, SIGNAL, TEXT],
        "rnn": [SIGNAL, TEXT],
        "transformer": [DIGITS, SIGNAL, TEXT],
        "hf": [TEXT],  # a CSV text column, re-tokenised by the model's own tokenizer
        "custom": [DIGITS, TABLE, SIGNAL, TEXT],
    }
    assert sorted(accepted) == sorted(FAMILIES)
    for family, specs in accepted.items():
        for spec in specs:
            check_compatible(family, spec)


def test_family_configs_are_frozen() -> None:
    # a resolved config never changes once parsed
    config = family_config("mlp")()
    with pytest.raises(ValidationError):
        config.depth = 5  # type: ignore[misc]


def test_family_config_does_not_import_torch() -> None:
    # parsing a model config (hpo validate) must stay cheap: no torch import
    code = (
        "import sys, orchestrator.models as m\n"
        "for name in m.FAMILIES:\n"
        "    cls = m.family_config(name)\n"
        "    required = {'custom': {'factory': 'a:b'}, 'hf': {'pretrained': 'x'}}\n"
        "    cls(**required.get(name, {}))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the custom family: the user's own factory ---------------------------------------------------

USER_MODULE = """
import torch
from torch import nn

def build(params, spec):
    return nn.Sequential(nn.Flatten(), nn.Linear(spec.input_shape[0], params.get("width", 4)),
                         nn.ReLU(), nn.Linear(params.get("width", 4), spec.num_classes))

def no_args():
    return None

def one_arg(params):
    return None

def kw_only(*, params, spec):
    return None

def boom(params, spec):
    raise ValueError("width must be even")

def not_a_module(params, spec):
    return 42

NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of factories in the working directory, under a name unique to the test."""
    name = f"user_models_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # resolve_factory adds the cwd
    yield name
    sys.modules.pop(name, None)


def test_custom_factory_builds_the_user_model(user_module: str) -> None:
    # the sampled params and the data spec reach the factory; its module is what hpo trains
    config = family_config("custom")(factory=f"{user_module}:build", params={"width": 7})
    model = build_model(config, TABLE, seed=0)
    assert model[1].out_features == 7  # type: ignore[index]
    assert model(torch.randn(5, 13)).shape == (5, 3)
    _train_step_lowers_loss(
        {"family": "custom", "factory": f"{user_module}:build", "params": {"width": 7}}, TABLE
    )


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("nope", "has no attribute 'nope' (callables there: boom, build, kw_only, "),
        ("NOT_CALLABLE", "is a int, not a function"),
        ("no_args", "cannot be called as no_args(params, spec)"),
        ("one_arg", "cannot be called as one_arg(params, spec)"),
        ("kw_only", "cannot be called as kw_only(params, spec)"),
    ],
)
def test_custom_factory_path_or_signature_is_a_config_error(
    user_module: str, attribute: str, message: str
) -> None:
    # checked before any trial (check_compatible runs the family's check): exit code 2
    model = {"family": "custom", "factory": f"{user_module}:{attribute}"}
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        check_compatible("custom", TABLE, model=model)
    assert str(info.value).startswith(f"model.factory: '{user_module}:{attribute}'")
    assert info.value.exit_code == 2


def test_custom_missing_module_is_a_config_error(user_module: str) -> None:
    with pytest.raises(ConfigError, match=r"no module named 'nowhere_to_be_found' in the working"):
        check_compatible("custom", TABLE, model={"factory": "nowhere_to_be_found.models:build"})


def test_custom_check_covers_every_choice(user_module: str) -> None:
    # a categorical choice between factories: each one is checked
    model = {"factory": {"type": "categorical", "choices": [f"{user_module}:build", "x.y:z"]}}
    with pytest.raises(ConfigError, match=r"'x\.y:z': no module named 'x'"):
        check_compatible("custom", TABLE, model=model)


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("boom", "raised ValueError: width must be even"),
        ("not_a_module", "returned a int, not a torch.nn.Module"),
    ],
)
def test_custom_factory_failure_fails_the_trial(
    user_module: str, attribute: str, message: str
) -> None:
    # what the factory does inside a trial is the trial's failure, and the study goes on
    config = family_config("custom")(factory=f"{user_module}:{attribute}")
    with pytest.raises(TrialFailure, match=re.escape(message)):
        build_model(config, TABLE)


@pytest.mark.parametrize("factory", ["examples.custom_model", "a.b:c d", ":build", "a:"])
def test_custom_factory_must_be_a_path(factory: str) -> None:
    with pytest.raises(ValidationError, match=r"factory must read 'package\.module:function'"):
        parse_model_config({"family": "custom", "factory": factory})


def test_example_factory_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    # examples/custom_model.py, as search_spaces/custom_model.yaml uses it from the repo root
    monkeypatch.chdir(Path(__file__).parents[1])
    monkeypatch.setattr(sys, "path", list(sys.path))
    config = {"family": "custom", "factory": "examples.custom_model:build"}
    check_compatible("custom", DIGITS, model=config)
    params = {"width": 16, "blocks": 2, "dropout": 0.0, "activation": "gelu"}
    assert _logits({**config, "params": params}, DIGITS).shape == (5, 10)
    _train_step_lowers_loss({**config, "params": params}, DIGITS)
