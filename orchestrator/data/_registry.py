"""The registry of data sets (``data.name`` -> loader) and :func:`load_data`, which checks that
every setting given is one the chosen loader reads before it loads.

A new loader is a function ``(config, *, seed) -> Splits`` and one line in :data:`LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.data._arrays import load_images, load_npz
from orchestrator.data._bundled import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_mnist1d,
    load_wine,
)
from orchestrator.data._csv import load_csv
from orchestrator.data._spec import Splits
from orchestrator.errors import DataError

if TYPE_CHECKING:
    from orchestrator.config import DataConfig

__all__ = ["LOADERS", "Loader", "load_data"]

Loader = Callable[..., Splits]  # (config: DataConfig, *, seed: int) -> Splits

# data.name -> loader
LOADERS: dict[str, Loader] = {
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
    "mnist1d": load_mnist1d,
    "csv": load_csv,
    "npz": load_npz,
    "images": load_images,
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
    _check_settings_apply(config)
    return loader(config, seed=seed)


# settings that only some of the built-in loaders read -> those loaders
_READERS: dict[str, tuple[str, ...]] = {
    "published_split": ("mnist1d",),
    "mnist1d": ("mnist1d",),
    "cache_dir": ("mnist1d", "images", "csv"),  # csv: a pretrained tokenizer's encodings
    "path": ("csv", "npz", "images"),
    "target": ("csv",),
    "features": ("csv",),
    "exclude": ("csv",),
    "categorical": ("csv",),
    "missing": ("csv",),
    "text": ("csv",),
    "tokenizer": ("csv",),
    "max_length": ("csv",),
    "min_freq": ("csv",),
    "max_vocab": ("csv",),
    "x_key": ("npz",),
    "y_key": ("npz",),
    "kind": ("npz",),
    "image_size": ("images",),
    "color": ("images",),
}
_BUILT_IN = (
    "digits", "iris", "wine", "breast_cancer", "diabetes", "mnist1d", "csv", "npz", "images"
)  # fmt: skip


def _check_settings_apply(config: DataConfig) -> None:
    """A setting changed from its default must be one the chosen built-in loader reads.

    Raises:
        DataError: naming the setting and the loaders that read it.
    """
    if config.name not in _BUILT_IN:
        return  # a loader registered later reads what it likes
    for key, readers in _READERS.items():
        value = getattr(config, key)
        if config.name not in readers and value != type(config).model_fields[key].get_default(
            call_default_factory=True
        ):
            names = ", ".join(readers[:-1]) + " or " * (len(readers) > 1) + readers[-1]
            raise DataError(
                f"data.{key}: {config.name} does not read it (only {names} "
                f"{'does' if len(readers) == 1 else 'do'}); remove it"
            )
