"""Tests for orchestrator/data/_hf_text.py: a CSV text column tokenised by a pretrained model's
own tokenizer, the same rows as the csv loader's splits, cached per max_length."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import apply_preprocessing, hf_text_splits, load_data
from orchestrator.errors import DataError
from tests.hf_helpers import write_texts


@pytest.fixture
def texts(tmp_path: Path) -> DataConfig:
    path = write_texts(tmp_path / "texts.csv")
    return DataConfig(
        name="csv", path=str(path), text="text", target="topic", cache_dir=str(tmp_path / "cache")
    )


def test_same_rows_tokenised_by_the_model(tiny_bert: Path, texts: DataConfig) -> None:
    from transformers import AutoTokenizer

    splits = load_data(texts, seed=0)
    tokenised = hf_text_splits(splits, texts, pretrained=str(tiny_bert), max_length=16)
    x, y = tokenised.train
    # (N, 2, 16): ids then mask, the labels and sizes of the csv loader's splits
    assert x.shape == (len(splits.train[1]), 2, 16) and x.dtype == torch.int64
    assert torch.equal(y, splits.train[1]) and tokenised.sizes == splits.sizes
    assert tokenised.spec.input_shape == (2, 16) and tokenised.spec.class_names == [
        "animals",
        "colours",
        "food",
    ]
    # row i is the text of the csv loader's train row i, as the model's tokenizer encodes it
    import pandas as pd

    first = pd.read_csv(texts.path)["text"][splits.indices["train"][0]]
    expected = AutoTokenizer.from_pretrained(str(tiny_bert))(first)["input_ids"]
    assert x[0, 0, : len(expected)].tolist() == expected
    assert x[0, 1].tolist() == [1] * len(expected) + [0] * (16 - len(expected))


def test_encodings_are_cached_per_max_length(
    tiny_bert: Path, texts: DataConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.data._hf_text as hf_text

    splits = load_data(texts, seed=0)
    first = hf_text_splits(splits, texts, pretrained=str(tiny_bert), max_length=16)
    calls = []
    real = hf_text.load_tokenizer
    monkeypatch.setattr(hf_text, "load_tokenizer", lambda f: calls.append(f) or real(f))
    again = hf_text_splits(splits, texts, pretrained=str(tiny_bert), max_length=16)
    # the second time: read from the cache, no tokenizer
    assert calls == [] and torch.equal(first.train[0], again.train[0])
    longer = hf_text_splits(splits, texts, pretrained=str(tiny_bert), max_length=24)
    assert len(calls) == 1 and longer.train[0].shape[-1] == 24
    assert len(list((Path(texts.cache_dir) / "hf_text").glob("*"))) == 2


def test_new_text_is_prepared_as_the_training_text(tiny_bert: Path, texts: DataConfig) -> None:
    # predict's path: the record in preprocessing encodes raw strings exactly as the splits
    import pandas as pd

    splits = load_data(texts, seed=0)
    tokenised = hf_text_splits(splits, texts, pretrained=str(tiny_bert), max_length=16)
    rows = pd.read_csv(texts.path)["text"][splits.indices["test"]].tolist()
    x = apply_preprocessing(rows, tokenised.preprocessing)
    assert torch.equal(torch.from_numpy(x), tokenised.test[0])
    assert tokenised.preprocessing["encoding"]["type"] == "hf_text"


def test_only_a_text_column_can_be_tokenised(tiny_bert: Path) -> None:
    digits = DataConfig(name="digits")
    with pytest.raises(DataError, match="hf takes a CSV text column"):
        hf_text_splits(load_data(digits, seed=0), digits, pretrained=str(tiny_bert), max_length=8)
