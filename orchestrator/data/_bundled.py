"""Data sets that ship inside installed packages: nothing is downloaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.data._split import make_splits

if TYPE_CHECKING:
    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = ["load_digits"]


def load_digits(config: DataConfig, *, seed: int) -> Splits:
    """scikit-learn's handwritten digits: 1,797 images of 8x8 pixels (values 0-16), 10 classes.

    Samples are ``(1, 8, 8)`` images; ``apply_preprocessing`` takes raw pixels as 64 values or 8x8.
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    return make_splits(
        bunch.images,  # (N, 8, 8); make_splits adds the channel axis
        bunch.target,
        kind="image",
        config=config,
        seed=seed,
        source="digits",
        class_names=[str(t) for t in bunch.target_names],
    )
