"""Tests for orchestrator/data: the registry, the digits loader, the shared split path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import LOADERS, Splits, apply_preprocessing, load_data, make_splits
from orchestrator.errors import DataError


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_data(DataConfig(name="digits"), seed=0)


@pytest.fixture(scope="module")
def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def test_digits_spec_and_types(digits: Splits) -> None:
    # 8x8 single-channel images, 10 classes; x float32 and y int64 on the cpu
    spec = digits.spec
    assert (spec.kind, spec.input_shape, spec.num_classes) == ("image", (1, 8, 8), 10)
    assert spec.class_names == [str(i) for i in range(10)]
    for x, y in (digits.train, digits.val, digits.test):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.device.type == "cpu" and x.shape[1:] == (1, 8, 8) and len(x) == len(y)


def test_digits_split_sizes_and_stratification(digits: Splits) -> None:
    # 1797 samples: 15% test (270), 15% of the whole for val (270), the rest train
    assert digits.sizes == {"train": 1257, "val": 270, "test": 270}
    # stratified: every split holds each class in the data set's proportion, to within 2 samples
    # (two rounded splits: test first, then val; a random split would be off by ~10)
    all_y = np.concatenate([digits.train[1], digits.val[1], digits.test[1]])
    share = np.bincount(all_y, minlength=10) / len(all_y)
    for _, y in (digits.train, digits.val, digits.test):
        counts = np.bincount(y.numpy(), minlength=10)
        assert np.abs(counts - share * len(y)).max() <= 2.0


def test_digits_splits_do_not_overlap(digits: Splits, raw_digits: tuple) -> None:
    # the three splits are disjoint and cover every row once
    rows = digits.indices
    train, val, test = (set(rows[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(1797))
    # and each split's labels are the source rows' labels
    _, target = raw_digits
    assert np.array_equal(digits.val[1].numpy(), target[rows["val"]])


def test_normalization_uses_train_statistics_only(digits: Splits, raw_digits: tuple) -> None:
    images, _ = raw_digits
    norm = digits.preprocessing["normalize"]
    # one mean/std for the single channel, computed on the training rows only
    train_pixels = images[digits.indices["train"]]
    assert norm["mode"] == "per_channel"
    assert norm["mean"] == pytest.approx([train_pixels.mean()])
    assert norm["std"] == pytest.approx([train_pixels.std()])
    assert norm["mean"][0] != pytest.approx(images.mean(), abs=1e-6)  # not the whole data's
    # so the train split is standardised exactly, the others only roughly
    x = digits.train[0]
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x.std()) == pytest.approx(1.0, abs=1e-3)
    assert abs(float(digits.val[0].mean())) < 0.1


def test_preprocessing_reproduces_splits(digits: Splits, raw_digits: tuple) -> None:
    # the JSON record is enough to prepare raw input (flat 64 pixels) exactly like the test split
    record = json.loads(json.dumps(digits.preprocessing))
    images, _ = raw_digits
    raw = images[digits.indices["test"]].reshape(-1, 64)
    prepared = apply_preprocessing(raw, record)
    assert prepared.shape == (270, 1, 8, 8) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, digits.test[0].numpy(), rtol=1e-6, atol=1e-6)


def test_no_normalization(raw_digits: tuple) -> None:
    # normalize: false keeps raw pixel values (0..16) and records no statistics
    splits = load_data(DataConfig(normalize=False), seed=0)
    assert splits.preprocessing["normalize"] is None
    assert float(splits.train[0].min()) == 0.0 and float(splits.train[0].max()) == 16.0


def test_seeded_determinism(digits: Splits) -> None:
    # the same seed gives the same split; another seed gives another
    again = load_data(DataConfig(), seed=0)
    assert torch.equal(again.train[0], digits.train[0]) and torch.equal(again.val[1], digits.val[1])
    other = load_data(DataConfig(), seed=1)
    assert not np.array_equal(other.indices["val"], digits.indices["val"])


def test_unknown_data_set() -> None:
    # the message lists every registered name
    with pytest.raises(DataError) as info:
        load_data(DataConfig(name="nope"), seed=0)
    assert str(info.value) == "data.name: unknown data set 'nope'; valid names: digits"
    assert "digits" in LOADERS


def test_fractions_must_leave_training_data() -> None:
    # val + test >= 1 leaves nothing to train on
    with pytest.raises(DataError, match=r"val_fraction \+ test_fraction must be < 1"):
        load_data(DataConfig(val_fraction=0.5, test_fraction=0.5), seed=0)


def test_make_splits_features_with_string_labels() -> None:
    # tables: labels of any type become sorted class indices, statistics are per feature
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[0.0, 10.0, -5.0], scale=[1.0, 3.0, 0.5], size=(200, 3))
    y = np.array(["cat", "dog"] * 100)
    splits = make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="table.csv")
    assert splits.spec.class_names == ["cat", "dog"] and splits.spec.input_shape == (3,)
    assert splits.preprocessing["normalize"]["mode"] == "per_feature"
    assert splits.train[0].mean(dim=0).abs().max() < 1e-5
    assert splits.train[0].std(dim=0, unbiased=False).sub(1).abs().max() < 1e-3


def test_make_splits_rare_class_falls_back_to_random_split() -> None:
    # a class with one sample cannot be stratified: split at random and record it
    x = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0] * 10 + [1] * 9 + [2])
    splits = make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="tiny")
    assert splits.preprocessing["stratified"] is False
    assert sum(splits.sizes.values()) == 20


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros((4, 3)), np.zeros(5, int), {}, "x has 4 rows but y has 5 labels"),
        (np.zeros((4, 2, 2)), np.zeros(4, int), {}, "features data needs samples of rank 1"),
        (np.zeros((4, 3)), np.array([0, 1, 2, 3]), {"class_names": ["a"]}, r"in \[0, 1\)"),
    ],
)
def test_make_splits_rejects_inconsistent_input(x, y, kwargs: dict, message: str) -> None:
    # a loader's inconsistent arrays are reported with the source's name
    with pytest.raises(DataError, match=message):
        make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="s", **kwargs)


def test_import_is_cheap() -> None:
    # importing the package imports neither torch nor scikit-learn nor numpy
    code = (
        "import sys, orchestrator.data\n"
        "for mod in ('torch', 'sklearn', 'numpy'):\n"
        "    assert mod not in sys.modules, mod"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
