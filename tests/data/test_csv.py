"""orchestrator/data/_csv.py: a large CSV is parsed and encoded once into the cache, mapped by
every later load, and parsed again when the file or a setting that decides the encoding changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import Splits, _csv, load_data


def _write(path: Path, *, rows: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),  # identifies rows: left out, with a warning
            "size": rng.normal(100, 20, rows).round(2),
            "colour": rng.choice(["red", "blue", "green"], rows),
            "label": rng.choice(["cat", "dog"], rows),
        }
    )
    frame.loc[3, "size"] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every file is "large" (cached); the list grows by one for each parse of a CSV."""
    parses: list[int] = []
    encode = _csv.encode_csv

    def counting(config: DataConfig, *, seed: int) -> dict:
        parses.append(seed)
        return encode(config, seed=seed)

    monkeypatch.setattr(_csv, "CACHED_CSV_BYTES", 0)
    monkeypatch.setattr(_csv, "encode_csv", counting)
    return parses


def _config(path: Path, tmp_path: Path, **settings: object) -> DataConfig:
    return DataConfig(
        name="csv", path=str(path), target="label", cache_dir=str(tmp_path / "c"), **settings
    )


def _same(a: Splits, b: Splits) -> bool:
    parts = ("train", "val", "test")
    tensors = all(torch.equal(getattr(a, p)[i], getattr(b, p)[i]) for p in parts for i in (0, 1))
    return tensors and a.preprocessing == b.preprocessing and a.spec == b.spec and a.note == b.note


def test_the_second_load_maps_the_cache_and_gives_the_same_splits(
    tmp_path: Path, counted: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "t.csv")
    with caplog.at_level(logging.WARNING):
        first = load_data(_config(path, tmp_path), seed=0)
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("orchestrator.data")]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        second = load_data(_config(path, tmp_path), seed=0)
    # parsed once; the second load reads the entry, and says the same warnings
    assert counted == [0]
    assert _same(first, second)
    assert any("column 'id' holds a different value in every row" in w for w in warned)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("orchestrator.data")] == (
        warned
    )
    # the same as a file below the threshold, which is parsed every time
    _csv.CACHED_CSV_BYTES = os.path.getsize(path) + 1
    assert _same(load_data(_config(path, tmp_path), seed=0), second)
    assert counted == [0, 0]


def test_the_entry_holds_the_encoded_table_mapped(tmp_path: Path, counted: list[int]) -> None:
    path = _write(tmp_path / "t.csv")
    load_data(_config(path, tmp_path), seed=0)
    (entry,) = (tmp_path / "c").iterdir()
    arrays, hit = _csv.cached_arrays(entry, lambda: {})
    assert hit and isinstance(arrays["x"], np.memmap)
    assert arrays["x"].shape == (200, 4) and arrays["x"].dtype == np.float32  # size, 3 colours


def test_a_changed_file_is_parsed_again(tmp_path: Path, counted: list[int]) -> None:
    path = _write(tmp_path / "t.csv")
    load_data(_config(path, tmp_path), seed=0)
    # other values, the same size: only the modification time tells
    stat = path.stat()
    text = path.read_text()
    path.write_text(text.replace("red", "tan").replace("blue", "grey"))
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = load_data(_config(path, tmp_path), seed=0)
    assert counted == [0, 0]
    assert changed.preprocessing["encoding"]["feature_names"][1:] == [
        "colour=green",
        "colour=grey",
        "colour=tan",
    ]
    assert torch.equal(changed.train[0], load_data(_config(path, tmp_path), seed=0).train[0])
    assert counted == [0, 0]


@pytest.mark.parametrize(
    ("settings", "seed"),
    [({"val_fraction": 0.3}, 0), ({"categorical": ["size"]}, 0), ({}, 1)],
    ids=["fraction", "encoding", "seed"],
)
def test_a_setting_that_decides_the_encoding_is_another_entry(
    tmp_path: Path, counted: list[int], settings: dict, seed: int
) -> None:
    path = _write(tmp_path / "t.csv")
    base = load_data(_config(path, tmp_path), seed=0)
    other = load_data(_config(path, tmp_path, **settings), seed=seed)
    assert len(counted) == 2 and len(list((tmp_path / "c").iterdir())) == 2
    assert not _same(base, other)


def test_a_small_file_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.csv")
    assert os.path.getsize(path) < _csv.CACHED_CSV_BYTES == 1 << 20  # 1 MiB
    load_data(_config(path, tmp_path), seed=0)
    assert not (tmp_path / "c").exists()


def test_bad_data_is_reported_and_nothing_is_stored(tmp_path: Path, counted: list[int]) -> None:
    from orchestrator.errors import DataError

    path = _write(tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"data\.target: no column 'kind' in"):
        load_data(_config(path, tmp_path).model_copy(update={"target": "kind"}), seed=0)
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())
