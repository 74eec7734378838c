"""orchestrator/data/_cache.py: entries of raw .npy files, mapped by every load, written aside and
renamed into place, rebuilt when damaged, created with the user's umask."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from orchestrator.data._cache import _write_entry, cached_arrays
from orchestrator.errors import DataError


def _arrays() -> dict[str, np.ndarray]:
    return {
        "x": np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4),
        "y": np.array([0, 1]),
        "n": np.array(7),  # a scalar
        "none": np.zeros((0, 5), dtype=np.float32),  # an empty array
    }


def _never() -> dict[str, np.ndarray]:
    raise AssertionError("made again: the cache was not used")


@pytest.fixture
def umask() -> Iterator[int]:
    """A umask that takes write access from the group and everything from others."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_an_entry_is_kept_as_raw_arrays_and_mapped_not_copied(tmp_path: Path) -> None:
    entry = tmp_path / "cache" / "e"
    made, hit = cached_arrays(entry, _arrays)
    # the first load stores the arrays and hands back the stored ones, mapped (no copy of its own)
    assert not hit
    assert isinstance(made["x"], np.memmap) and made["x"].dtype == np.uint8
    assert Path(made["x"].filename) == entry / "x.npy"
    # raw .npy files, one per array: uint8 pixels stay uint8 on disk
    assert np.load(entry / "x.npy").dtype == np.uint8
    again, hit = cached_arrays(entry, _never)
    assert hit
    for name, value in _arrays().items():
        assert np.array_equal(again[name], value) and again[name].dtype == value.dtype
        assert again[name].shape == value.shape
    assert isinstance(again["x"], np.memmap)
    # copy-on-write: writing to one load's array changes neither the file nor another load
    again["x"][0, 0, 0, 0] = 99
    assert cached_arrays(entry, _never)[0]["x"][0, 0, 0, 0] == 0


def test_two_loads_share_one_entry(tmp_path: Path) -> None:
    # both map the same file: the pages of one copy, whatever the number of workers
    first, _ = cached_arrays(tmp_path / "e", _arrays)
    second, _ = cached_arrays(tmp_path / "e", _never)
    assert first["x"].filename == second["x"].filename
    assert [p.name for p in tmp_path.iterdir()] == ["e"]  # no temporary folder left behind


@pytest.mark.parametrize(
    "damage",
    ["truncated", "header", "missing-array", "missing-manifest", "wrong-shape"],
)
def test_a_damaged_entry_is_rebuilt(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    entry = tmp_path / "e"
    cached_arrays(entry, _arrays)
    if damage == "truncated":
        os.truncate(entry / "x.npy", os.path.getsize(entry / "x.npy") - 10)
    elif damage == "header":
        (entry / "x.npy").write_bytes(b"not an array at all")
    elif damage == "missing-array":
        (entry / "y.npy").unlink()
    elif damage == "missing-manifest":
        (entry / "arrays.json").unlink()
    else:
        np.save(entry / "y.npy", np.array([0, 1, 2]))
    made = []

    def make() -> dict[str, np.ndarray]:
        made.append(1)
        return _arrays()

    with caplog.at_level(logging.WARNING):
        arrays, hit = cached_arrays(entry, make)
    # made again, stored again, and said so
    assert not hit and made == [1]
    assert np.array_equal(arrays["x"], _arrays()["x"])
    assert np.array_equal(arrays["y"], [0, 1])
    assert f"cache entry {entry} is damaged" in caplog.text
    assert cached_arrays(entry, _never)[1]


def test_a_worker_that_loses_the_race_keeps_the_winners_entry(tmp_path: Path) -> None:
    # another worker stores the same entry while this one is still making its arrays
    entry = tmp_path / "e"

    def make() -> dict[str, np.ndarray]:
        _write_entry(entry, _arrays())
        return _arrays()

    arrays, hit = cached_arrays(entry, make)
    assert not hit and np.array_equal(arrays["x"], _arrays()["x"])
    assert isinstance(arrays["x"], np.memmap)
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_folders_and_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    entry = tmp_path / "new" / "cache" / "e"
    cached_arrays(entry, _arrays)
    # what any other program would create: never world-writable, never private to hpo
    for folder in (tmp_path / "new", tmp_path / "new" / "cache", entry):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask
    for file in entry.iterdir():
        assert file.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_unwritable_cache_says_where_and_what_to_set(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DataError) as info:
        cached_arrays(blocker / "e", _arrays)
    assert str(info.value).startswith(f"cannot write the data cache {blocker} (")
    assert str(info.value).endswith("set data.cache_dir or HPO_CACHE_DIR to a writable folder")
