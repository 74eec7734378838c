"""The CSV loader: a small file is parsed and encoded on every load (:func:`encode_csv`); a large
one once, into the cache, and mapped by every later load.

A CSV of :data:`CACHED_CSV_BYTES` or more costs seconds and hundreds of megabytes of pandas to
parse, in every worker of ``hpo run --jobs N`` and in every later run. Its encoded form (the
feature matrix or the token ids, the target, the split's rows, the encoding record) is stored as
one cache entry (:mod:`._cache`), keyed by the file's path, size and modification time, every
data setting and the split's seed; a later load maps it read-only (copy-on-write) and never
reads the CSV. The warnings the parse gave (identifier columns left out, rows without a target)
are said again on every load, as they would be without the cache. A smaller file is parsed
every time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from orchestrator.data._cache import cache_key, cache_root, cached_arrays, file_stamp
from orchestrator.data._split import make_splits
from orchestrator.data._table import encode_csv, require_path

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = ["CACHED_CSV_BYTES", "cached_encoding", "load_csv"]

logger = logging.getLogger(__name__)

CACHED_CSV_BYTES = 1 << 20  # 1 MiB: a CSV file this large or larger is encoded once, cached
_FORMAT = 1  # the entry's layout; a new one makes new entries
_SPLITS = ("train", "val", "test")
_RECORDED = ("orchestrator.data", "orchestrator.tasks")  # whose warnings a hit says again

Encode = Callable[..., dict[str, Any]]  # (config, *, seed) -> make_splits' arguments


def load_csv(config: DataConfig, *, seed: int) -> Splits:
    """A CSV file (:func:`encode_csv` says how it is read and encoded), split; from the cache
    when it is :data:`CACHED_CSV_BYTES` or larger."""
    if require_path(config).stat().st_size >= CACHED_CSV_BYTES:
        return make_splits(**cached_encoding(config, seed=seed, encode=encode_csv))
    return make_splits(**encode_csv(config, seed=seed))


def cached_encoding(config: DataConfig, *, seed: int, encode: Encode) -> dict[str, Any]:
    """``encode(config, seed=seed)``'s arguments of :func:`~orchestrator.data.make_splits`, from
    the cache entry of this file and these settings, or encoded and stored there first.

    Raises:
        DataError: what ``encode`` raises (nothing is stored then), or a cache folder that
            cannot be written.
    """
    from pathlib import Path

    settings = config.model_dump(mode="json", exclude={"cache_dir"})
    stamp = file_stamp(Path(str(config.path)).expanduser())
    key = cache_key({"format": _FORMAT, "file": stamp, "data": settings, "seed": seed})
    entry = cache_root(config) / f"csv-{key}"
    warnings: list[tuple[str, str]] = []

    def make() -> dict[str, np.ndarray]:
        with _recording(warnings):
            return _to_arrays(encode(config, seed=seed), warnings)

    arrays, hit = cached_arrays(entry, make)
    logger.debug("%s: %s %s", config.path, "mapped from" if hit else "encoded into", entry)
    arguments = _from_arrays(arrays)
    if hit:
        for name, message in arguments.pop("warnings"):
            logging.getLogger(name).warning("%s", message)
    else:
        arguments.pop("warnings")
    return {**arguments, "config": config, "seed": seed}


def _to_arrays(arguments: dict[str, Any], warnings: list[tuple[str, str]]) -> dict[str, Any]:
    """make_splits' arguments as arrays: the large ones as they are, the rest as JSON."""
    import numpy as np

    target = arguments["target"]
    record = {
        "kind": arguments["kind"],
        "source": arguments["source"],
        "vocab_size": arguments.get("vocab_size"),
        "encoding": arguments["encoding"],
        "target_name": arguments["target_name"],
        "target": {"task": target.task, "names": list(target.names), "note": target.note},
        "warnings": warnings,
    }
    arrays = {
        "x": arguments["x"],
        "y": target.y,
        "record": np.frombuffer(json.dumps(record).encode(), dtype=np.uint8),
        **{f"rows_{name}": arguments["rows"][name] for name in _SPLITS},
    }
    if arguments.get("standardize") is not None:
        arrays["standardize"] = arguments["standardize"]
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The arguments :func:`_to_arrays` stored (the arrays mapped, not copied)."""
    from orchestrator.tasks import Target

    record = json.loads(arrays["record"].tobytes().decode())
    target = record.pop("target")
    warnings = [tuple(w) for w in record.pop("warnings")]
    return {
        **record,
        "x": arrays["x"],
        "y": None,
        "rows": {name: arrays[f"rows_{name}"] for name in _SPLITS},
        "standardize": arrays.get("standardize"),
        "target": Target(target["task"], arrays["y"], target["names"], target["note"]),
        "warnings": warnings,
    }


@contextmanager
def _recording(into: list[tuple[str, str]]) -> Iterator[None]:
    """Keep the warnings that the data and task modules log meanwhile (they are logged as
    usual too)."""

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith(_RECORDED):
                into.append((record.name, record.getMessage()))

    handler = _Keep(logging.WARNING)
    root = logging.getLogger("orchestrator")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
