"""A small on-disk cache of arrays: generated data (mnist1d), decoded images, parsed tables.

An entry is a folder of raw ``.npy`` files (one per array, plus ``arrays.json`` naming them),
named by a hash of everything that decides its content. It is written into a temporary folder
and renamed into place, so that workers sharing the cache never read a half written entry; a
damaged entry (a file missing, truncated or unreadable) is rebuilt. Entries are read with
``np.load(..., mmap_mode="c")``: every worker on a machine maps the same pages of the file, and
none holds a copy of its own unless it writes to them (copy-on-write). Folders and files are
created with the user's umask, like any other file they write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig

__all__ = ["CACHE_ENV", "cache_key", "cache_root", "cached_arrays", "file_stamp"]

logger = logging.getLogger(__name__)

CACHE_ENV = "HPO_CACHE_DIR"  # overrides the default cache folder
DEFAULT_CACHE = "~/.cache/hpo"
_MANIFEST = "arrays.json"  # in each entry: the arrays' names, dtypes and shapes


def cache_root(config: DataConfig) -> Path:
    """``data.cache_dir``, else ``$HPO_CACHE_DIR``, else ``~/.cache/hpo``."""
    root = config.cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return Path(root).expanduser()


def cache_key(settings: Mapping[str, Any]) -> str:
    """A short, stable hash of JSON-serialisable settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_stamp(path: Path) -> list[Any]:
    """What tells one version of a file from another, for a cache key: its resolved path, size
    and modification time (nanoseconds)."""
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def cached_arrays(
    entry: Path, make: Callable[[], dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays of the cache entry ``entry`` (a folder), mapped copy-on-write; or ``make()``'s,
    stored there first and then mapped from it, so that the process that made them keeps no
    copy either.

    Returns:
        the arrays, and whether they came from the cache.

    Raises:
        DataError: the cache folder cannot be written (the message names it and the override).
    """
    stored = _read_entry(entry)
    if stored is not None:
        return stored, True
    arrays = make()
    try:
        _write_entry(entry, arrays)
    except OSError as exc:
        raise DataError(
            f"cannot write the data cache {entry.parent} ({exc.strerror or exc}); set "
            f"data.cache_dir or {CACHE_ENV} to a writable folder"
        ) from exc
    return _read_entry(entry) or arrays, False


def _read_entry(entry: Path) -> dict[str, np.ndarray] | None:
    """The entry's arrays, mapped; None when there is none, and when it is damaged (then it is
    removed, to be rebuilt)."""
    import numpy as np

    if not entry.is_dir():
        return None
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
        arrays = {}
        for name, (dtype, shape) in manifest.items():
            file = entry / f"{name}.npy"
            # an empty array cannot be mapped; it is read
            mode = "c" if all(shape) else None
            array = np.load(file, mmap_mode=mode, allow_pickle=False)
            if str(array.dtype) != dtype or list(array.shape) != shape:
                raise ValueError(f"{file.name} holds {array.dtype} {array.shape}")
            arrays[name] = array
        return arrays
    except (OSError, ValueError, EOFError, TypeError, AttributeError) as exc:
        logger.warning("cache entry %s is damaged (%s); rebuilding it", entry, exc)
        _remove(entry)
        return None


def _write_entry(entry: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` into a temporary folder beside ``entry`` and rename it into place; if
    another process renamed its own first, keep that one."""
    import numpy as np

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        manifest = {}
        for name, array in arrays.items():
            array = np.asarray(array)
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            manifest[name] = [str(array.dtype), list(array.shape)]
        (tmp / _MANIFEST).write_text(json.dumps(manifest))
        try:
            os.rename(tmp, entry)
        except OSError:
            if not entry.is_dir():
                raise
            # another worker's entry is in place: the same content
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove(entry: Path) -> None:
    """Take a damaged entry out of the way (renamed first, so that a worker reading it at the
    same time never sees half of it removed)."""
    trash = entry.parent / f".{entry.name}.{os.getpid()}.{secrets.token_hex(4)}.damaged"
    try:
        os.rename(entry, trash)
    except OSError:
        return  # another worker took it away already
    shutil.rmtree(trash, ignore_errors=True)
