"""orchestrator/data/_split.py and Splits.model_input (_spec.py): uint8 images stay uint8 in the
splits and become, batch by batch, exactly the float input make_splits stores for float pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import make_splits


def _pixels(n: int = 60, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, channels, 5, 5), dtype=np.uint8)
    x[:, 0] //= 3  # channels of different statistics
    return x, np.arange(n) % 3


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_images_give_the_same_model_input_as_float_pixels(
    normalize: bool, channels: int
) -> None:
    x, y = _pixels(channels=channels)
    config = DataConfig(name="images", normalize=normalize)
    kept = make_splits(x, y, kind="image", config=config, seed=0, source="pixels")
    floats = make_splits(
        x.astype(np.float32), y, kind="image", config=config, seed=0, source="pixels"
    )
    # the splits hold the pixels as they were decoded: a quarter of the memory of float32
    assert kept.train[0].dtype == torch.uint8
    assert [kept.indices[s].tolist() for s in ("train", "val", "test")] == [
        floats.indices[s].tolist() for s in ("train", "val", "test")
    ]
    if normalize:
        # the statistics: the same mean, the std within rounding of NumPy's own, and the same
        # float32 values once the batch is standardised with them
        assert kept.preprocessing["normalize"]["mean"] == floats.preprocessing["normalize"]["mean"]
        np.testing.assert_allclose(
            kept.preprocessing["normalize"]["std"],
            floats.preprocessing["normalize"]["std"],
            rtol=1e-12,
        )
    for split in ("train", "val", "test"):
        batch = getattr(kept, split)[0]
        made = kept.model_input(batch)
        # bit for bit what make_splits stores for the same pixels given as float
        assert made.dtype == torch.float32
        assert torch.equal(made, getattr(floats, split)[0])
        assert torch.equal(kept.model_input(batch[2:5]), getattr(floats, split)[0][2:5])


def test_float_input_passes_through_unchanged() -> None:
    x, y = _pixels()
    splits = make_splits(
        x.astype(np.float32), y, kind="image", config=DataConfig(), seed=0, source="s"
    )
    batch = splits.train[0][:4]
    assert splits.model_input(batch) is batch
