"""Tests for orchestrator/augment.py: each augmentation, its data kinds, seeding, and that
evaluation never sees it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.augment import (
    APPLIES_TO,
    Augmenter,
    active,
    check_augment,
    check_augment_space,
)
from orchestrator.config import AdamConfig, AugmentConfig, DataConfig, TrainConfig
from orchestrator.data import Splits, make_splits
from orchestrator.errors import SpaceError, TrialFailure
from orchestrator.train import fit

IMAGES = torch.randn(6, 3, 8, 9)
SIGNALS = torch.randn(6, 2, 20)
TABLE = torch.randn(6, 5)
TOKENS = torch.randint(1, 20, (6, 7))

EVERY_CASE = [
    ("image", IMAGES, {"shift": 2, "flip": "both", "noise": 0.1, "cutout": 3}),
    ("sequence", SIGNALS, {"shift": 3, "noise": 0.1, "time_mask": 5}),
    ("features", TABLE, {"noise": 0.1}),
]


def _augment(kind: str, x: torch.Tensor, seed: int = 0, **settings: object) -> torch.Tensor:
    return Augmenter(AugmentConfig(**settings), kind, seed=seed, device="cpu")(x)


@pytest.mark.parametrize(("kind", "x", "settings"), EVERY_CASE)
def test_shapes_and_dtype_are_kept(kind: str, x: torch.Tensor, settings: dict) -> None:
    # every augmentation that applies to a kind, alone and all together
    for name, value in settings.items():
        out = _augment(kind, x, **{name: value})
        assert out.shape == x.shape and out.dtype == x.dtype, name
        assert not torch.equal(out, x), f"{name} changed nothing"
    assert _augment(kind, x, **settings).shape == x.shape


@pytest.mark.parametrize(("kind", "x", "settings"), EVERY_CASE)
def test_deterministic_under_a_seed(kind: str, x: torch.Tensor, settings: dict) -> None:
    # the same seed gives the same batch; another seed another
    first = _augment(kind, x, seed=3, **settings)
    assert torch.equal(first, _augment(kind, x, seed=3, **settings))
    assert not torch.equal(first, _augment(kind, x, seed=4, **settings))


def test_shift_moves_each_sample_and_fills_zeros() -> None:
    # every output is the input moved by at most 2 steps, the uncovered end zero
    x = torch.arange(1.0, 11.0).view(1, 1, 10).repeat(8, 1, 1)
    out = _augment("sequence", x, shift=2)
    for row in out[:, 0]:
        kept = row[row != 0]
        start = int(kept[0]) - 1  # the first value kept tells the shift
        assert torch.equal(kept, torch.arange(start + 1.0, start + 1.0 + len(kept)))
        assert abs(start) <= 2 and len(kept) >= 8


def test_shift_images_moves_rows_and_columns_together() -> None:
    # a 2D shift keeps each image a translated copy: the values are a sub-grid of the input
    x = torch.arange(36.0).view(1, 1, 6, 6).repeat(5, 1, 1, 1) + 1
    out = _augment("image", x, shift=1)
    for image in out[:, 0]:
        inner = image[1:-1, 1:-1]  # never uncovered by a shift of 1
        top, left = divmod(int(inner[0, 0]) - 1, 6)
        assert torch.equal(inner, x[0, 0, top : top + 4, left : left + 4])


def test_cutout_and_time_mask_zero_one_region() -> None:
    # cutout zeroes at most one 3x3 square per image; time_mask at most 4 steps per sample
    ones = torch.ones(50, 1, 8, 8)
    holes = (_augment("image", ones, cutout=3) == 0).sum(dim=(1, 2, 3))
    assert holes.max() <= 9 and holes.min() >= 1  # a square near the border is clipped
    masked = (_augment("sequence", torch.ones(50, 2, 20), time_mask=4) == 0).sum(dim=2)
    assert masked.max() <= 4 and torch.equal(masked[:, 0], masked[:, 1])  # every channel alike


def test_flip_mirrors_whole_images() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(20, 1, 1, 1)
    out = _augment("image", x, flip="horizontal")
    flipped = [torch.equal(o, x[0].flip(-1)) for o in out]
    kept = [torch.equal(o, x[0]) for o in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)


def test_active_and_kinds() -> None:
    config = AugmentConfig(shift=1, mixup=0.2)
    assert active(config) == ["shift", "mixup"]
    assert active(AugmentConfig()) == []
    assert set(APPLIES_TO) == set(AugmentConfig.model_fields)


@pytest.mark.parametrize(
    ("settings", "kind", "message"),
    [
        (
            {"flip": "horizontal"},
            "sequence",
            "train.augment.flip: flip applies to image data, but the data is sequence; remove it",
        ),
        (
            {"time_mask": 3},
            "image",
            "train.augment.time_mask: time_mask applies to sequence data, but the data is image",
        ),
        ({"shift": 1}, "features", "train.augment.shift: shift applies to image and sequence"),
        ({"noise": 0.1}, "tokens", "train.augment.noise: noise applies to image and sequence and"),
    ],
)
def test_augmentation_foreign_to_the_data_fails(settings: dict, kind: str, message: str) -> None:
    with pytest.raises(TrialFailure, match=message):
        check_augment(AugmentConfig(**settings), kind)


def test_space_check_finds_what_may_be_switched_on() -> None:
    # before any trial: a fixed value or a parameter that can leave the default is a problem
    train = {
        "augment": {
            "flip": {"type": "categorical", "choices": ["none", "horizontal"]},
            "cutout": {"type": "int", "low": 0, "high": 4},
            "shift": {"type": "int", "low": 0, "high": 3},  # applies to sequences
            "noise": 0.1,
        }
    }
    with pytest.raises(SpaceError) as info:
        check_augment_space(train, "sequence", source="s.yaml")
    assert [p.path for p in info.value.problems] == ["train.augment.flip", "train.augment.cutout"]
    assert str(info.value).splitlines()[0] == (
        "s.yaml: train.augment.flip: flip applies to image data, but the data is sequence; "
        "remove it"
    )
    # parameters that can only give the default, and absent settings, are fine
    fine = {"augment": {"flip": {"type": "categorical", "choices": ["none"]}, "cutout": 0}}
    check_augment_space(fine, "sequence", source="s.yaml")
    check_augment_space({}, "tokens", source="s.yaml")
    check_augment_space(None, "tokens", source="s.yaml")


# --- mixup ---------------------------------------------------------------------------------------


def test_mixup_mixes_inputs_and_pairs() -> None:
    augmenter = Augmenter(AugmentConfig(mixup=0.4), "features", seed=0, device="cpu")
    lam, partner = augmenter.mixup(6)
    assert 0.0 <= lam <= 1.0 and sorted(partner.tolist()) == list(range(6))
    model = nn.Identity()
    with augmenter.mixing(model, TABLE, lam, partner) as mixed:
        torch.testing.assert_close(model(mixed), lam * TABLE + (1 - lam) * TABLE[partner])


def test_mixup_on_tokens_mixes_the_embedding() -> None:
    # ids cannot be averaged: the embedding's output is mixed, and only inside the block
    embedding = nn.Embedding(20, 4)
    model = nn.Sequential(embedding, nn.Flatten())
    augmenter = Augmenter(AugmentConfig(mixup=0.2), "tokens", seed=0, device="cpu")
    lam, partner = augmenter.mixup(6)
    with augmenter.mixing(model, TOKENS, lam, partner) as inputs:
        assert inputs is TOKENS
        out = model(inputs)
    vectors = embedding(TOKENS)
    torch.testing.assert_close(out, (lam * vectors + (1 - lam) * vectors[partner]).flatten(1))
    torch.testing.assert_close(model(TOKENS), vectors.flatten(1))  # the hook is gone
    with (
        pytest.raises(TrialFailure, match=r"model has no torch\.nn\.Embedding"),
        augmenter.mixing(nn.Flatten(), TOKENS, lam, partner),
    ):
        pass


# --- in the training loop ------------------------------------------------------------------------


class Recorder(nn.Module):
    """A linear classifier that keeps every input it is given, with the mode it was in."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, classes)
        self.seen: list[tuple[bool, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, x.detach().clone()))
        return self.linear(x.flatten(1))


def _signals() -> Splits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(90, 1, 12, generator=gen)
    y = torch.arange(90) % 3
    x[:, 0, 0] += y * 2.0  # learnable
    return make_splits(
        x.numpy(), y.numpy(), kind="sequence", config=DataConfig(), seed=0, source="s"
    )


def test_training_sees_augmented_batches_and_evaluation_never() -> None:
    splits = _signals()
    model = Recorder(12, 3)
    augment = AugmentConfig(shift=2, noise=0.5, time_mask=3, mixup=0.2)
    config = TrainConfig(epochs=2, batch_size=16, optimizer=AdamConfig(lr=1e-2), augment=augment)
    result = fit(model, splits, config, device="cpu", precision="32", seed=0)
    x_val = splits.val[0]
    train_inputs = [x for training, x in model.seen if training]
    eval_inputs = [x for training, x in model.seen if not training]
    # evaluation: exactly the validation samples (and the 2-sample probe before training)
    assert sum(len(x) for x in eval_inputs[1:]) == 2 * len(x_val)
    assert all(torch.equal(x, x_val) for x in eval_inputs[1:])
    # training: no batch is a plain selection of training samples
    rows = {tuple(r.flatten().tolist()) for r in splits.train[0]}
    assert all(any(tuple(r.flatten().tolist()) not in rows for r in x) for x in train_inputs)
    assert result.epochs_run == 2 and all(h["train_loss"] > 0 for h in result.history)


def test_augmented_training_is_deterministic() -> None:
    splits = _signals()
    augment = AugmentConfig(shift=2, noise=0.3, mixup=0.2)
    config = TrainConfig(epochs=2, batch_size=16, optimizer=AdamConfig(lr=1e-2), augment=augment)

    def run() -> list[float]:
        torch.manual_seed(0)
        model = Recorder(12, 3)
        result = fit(model, splits, config, device="cpu", precision="32", seed=5)
        return [h["train_loss"] for h in result.history] + [h["val_loss"] for h in result.history]

    assert run() == run()


def test_foreign_augmentation_fails_the_trial_in_fit() -> None:
    splits = _signals()
    config = TrainConfig(epochs=1, augment=AugmentConfig(cutout=2))
    with pytest.raises(TrialFailure, match=r"train\.augment\.cutout: cutout applies to image data"):
        fit(Recorder(12, 3), splits, config, device="cpu", precision="32", seed=0)


def test_every_data_kind_takes_mixup() -> None:
    # mixup applies to every kind a DataSpec may have
    from typing import get_args

    from orchestrator.data import DataKind

    assert set(APPLIES_TO["mixup"]) == set(get_args(DataKind))
