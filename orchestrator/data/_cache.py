"""A small on-disk cache of arrays: generated data (mnist1d) and decoded images.

Entries are ``.npz`` files named by a hash of everything that decides their content, written to a
temporary file and renamed into place, so that workers sharing the directory never read a half
written entry. A damaged entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig

__all__ = ["CACHE_ENV", "cache_key", "cache_root", "cached_arrays"]

logger = logging.getLogger(__name__)

CACHE_ENV = "HPO_CACHE_DIR"  # overrides the default cache folder
DEFAULT_CACHE = "~/.cache/hpo"


def cache_root(config: DataConfig) -> Path:
    """``data.cache_dir``, else ``$HPO_CACHE_DIR``, else ``~/.cache/hpo``."""
    root = config.cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return Path(root).expanduser()


def cache_key(settings: Mapping[str, Any]) -> str:
    """A short, stable hash of JSON-serialisable settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_arrays(
    path: Path, make: Callable[[], dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays stored at ``path``, or ``make()``'s, stored there first.

    Returns:
        the arrays, and whether they came from the cache.

    Raises:
        DataError: the cache folder cannot be written (the message names it and the override).
    """
    import numpy as np

    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {k: stored[k] for k in stored.files}, True
        except (OSError, ValueError, EOFError) as exc:
            logger.warning("cache entry %s is unreadable (%s); rebuilding it", path, exc)
    arrays = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise DataError(
            f"cannot write the data cache {path.parent} ({exc.strerror or exc}); set "
            f"data.cache_dir or {CACHE_ENV} to a writable folder"
        ) from exc
    return arrays, False
