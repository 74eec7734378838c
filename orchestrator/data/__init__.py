"""Data sets by name: a registry of loaders that all end in one split-and-normalise path.

Nothing here downloads. ``load_data(DataConfig(name="digits"), seed=0)`` returns :class:`Splits`:
train/val/test tensors on the CPU, the :class:`DataSpec` a model sizes itself from, and the
preprocessing record needed to prepare new input. A new loader is a function
``(config, *, seed) -> Splits`` that reads its source into arrays and calls :func:`make_splits`,
plus one line in :data:`LOADERS`.

Importing this package is cheap: NumPy, scikit-learn and torch are imported inside the loaders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.data._bundled import load_digits
from orchestrator.data._spec import DataKind, DataSpec, Splits
from orchestrator.data._split import apply_preprocessing, make_splits
from orchestrator.errors import DataError

if TYPE_CHECKING:
    from orchestrator.config import DataConfig

__all__ = [
    "LOADERS",
    "DataKind",
    "DataSpec",
    "Loader",
    "Splits",
    "apply_preprocessing",
    "load_data",
    "make_splits",
]

Loader = Callable[..., Splits]  # (config: DataConfig, *, seed: int) -> Splits

# data.name -> loader
LOADERS: dict[str, Loader] = {
    "digits": load_digits,
}


def load_data(config: DataConfig, *, seed: int) -> Splits:
    """Load the data set ``config.name`` and split it (stratified, seeded by ``seed``).

    Raises:
        DataError: an unknown name, or data that cannot be loaded or split as configured.
    """
    try:
        loader = LOADERS[config.name]
    except KeyError:
        valid = ", ".join(sorted(LOADERS))
        raise DataError(
            f"data.name: unknown data set {config.name!r}; valid names: {valid}"
        ) from None
    return loader(config, seed=seed)
