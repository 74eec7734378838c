"""Data sets that ship inside installed packages or are generated locally: nothing is downloaded."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from orchestrator.data._cache import cache_key, cache_root, cached_arrays
from orchestrator.data._split import make_splits

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = [
    "load_breast_cancer",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_mnist1d",
    "load_wine",
]

logger = logging.getLogger(__name__)


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
        target_name="digit",
    )


def _sklearn_table(name: str, config: DataConfig, seed: int) -> Splits:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    return make_splits(
        bunch.data,
        bunch.target,
        kind="features",
        config=config,
        seed=seed,
        source=name,
        class_names=[str(t) for t in bunch.target_names],
        target_name="target",
        feature_names=list(bunch.feature_names),
    )


def load_iris(config: DataConfig, *, seed: int) -> Splits:
    """Fisher's iris: 150 flowers, 4 measurements, 3 species (scikit-learn's copy)."""
    return _sklearn_table("iris", config, seed)


def load_wine(config: DataConfig, *, seed: int) -> Splits:
    """UCI wine: 178 wines, 13 chemical measurements, 3 cultivars (scikit-learn's copy)."""
    return _sklearn_table("wine", config, seed)


def load_breast_cancer(config: DataConfig, *, seed: int) -> Splits:
    """Wisconsin diagnostic breast cancer: 569 samples, 30 features, malignant or benign."""
    return _sklearn_table("breast_cancer", config, seed)


def load_diabetes(config: DataConfig, *, seed: int) -> Splits:
    """Efron et al.'s diabetes (scikit-learn's copy): 442 patients, 10 measurements (age, sex,
    body mass index, blood pressure, six blood serum values), and a regression target: a measure
    of disease progression one year later (25 to 346)."""
    from sklearn.datasets import load_diabetes as _load

    bunch = _load(scaled=False)
    return make_splits(
        bunch.data,
        bunch.target,
        kind="features",
        config=config,
        seed=seed,
        source="diabetes",
        target_name="progression",
        feature_names=list(bunch.feature_names),
    )


def load_mnist1d(config: DataConfig, *, seed: int) -> Splits:
    """MNIST-1D (Greydanus & Kobak, ICML 2024): 1D signals of 40 steps, 10 classes.

    Generated locally with the ``mnist1d`` package's own generator and ``data.mnist1d``'s
    settings (the published ones by default: 5,000 samples, seed 42), then cached under
    ``data.cache_dir``, so only the first use pays its few seconds. With
    ``data.published_split`` (the default) the published test split (the last 1,000) is the
    test split and ``val_fraction`` of the published 4,000 training samples (stratified, seeded
    by the study) is the validation split; otherwise all 5,000 are split by the fractions.
    Samples are ``(1, 40)`` sequences.
    """
    import numpy as np

    settings = config.mnist1d.model_dump(mode="json")
    path = cache_root(config) / f"mnist1d-{cache_key(settings)}"
    arrays, hit = cached_arrays(path, lambda: _generate_mnist1d(settings))
    logger.debug("mnist1d: %s %s", "read from" if hit else "generated into", path)
    x = np.concatenate([arrays["x"], arrays["x_test"]])
    y = np.concatenate([arrays["y"], arrays["y_test"]])
    test_rows = np.arange(len(arrays["y"]), len(y)) if config.published_split else None
    return make_splits(
        x,
        y,
        kind="sequence",
        config=config,
        seed=seed,
        source="mnist1d",
        class_names=[str(i) for i in range(10)],
        test_rows=test_rows,
        target_name="digit",
    )


def _generate_mnist1d(settings: dict) -> dict[str, np.ndarray]:
    """Run mnist1d's generator (never its ``get_dataset``, which downloads and writes a pickle).

    The generator seeds Python's and NumPy's global generators; their states are restored.
    """
    import random

    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=False)
    for key, value in settings.items():
        setattr(args, key, list(value) if isinstance(value, tuple) else value)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int64),
    }
