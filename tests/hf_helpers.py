"""A tiny pretrained BERT and a small text set, built in the test's own folder: the hf family's
tests need no download and no real model (a 2-layer BERT of width 32, a word-level vocabulary
made of the test's own words)."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

# three classes a model can tell apart by their words
TOPICS = {
    "animals": "cat dog horse bird fish cow sheep goat mouse lion tiger bear wolf fox deer",
    "colours": "red blue green yellow purple orange black white grey pink brown gold silver",
    "food": "bread cheese apple pear soup rice bean cake milk honey salt plum grape meat",
}
FILLER = ["the", "a", "of", "and", "with", "some", "very", "quite", "my", "your", "this", "that"]

TINY_SPACE = """\
study: {{name: tiny-hf, n_trials: {n_trials}, seed: 0, sampler: random, pruner: none}}
data: {{name: csv, path: texts.csv, text: text, target: topic, val_fraction: 0.25,
       test_fraction: 0.25, cache_dir: cache}}
model:
  family: hf
  pretrained: {pretrained}
  max_length: 16
  unfreeze_layers: {unfreeze}
  adapter: {adapter}
train:
  epochs: 2
  batch_size: 8
  optimizer: {{name: adamw, lr: 3.0e-3, weight_decay: 0.01}}
  schedule: {{name: linear, warmup_fraction: 0.1}}
"""


def needs_hf() -> None:
    """Skip (with the reason) where the hf extra is not installed."""
    missing = [p for p in ("transformers", "peft") if importlib.util.find_spec(p) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs hpo[hf], but {', '.join(missing)} is not installed")
        pytest.skip(f"needs the hf extra (pip install 'hpo[hf]'): no {', '.join(missing)}")


def write_texts(path: Path, *, per_class: int = 24, seed: int = 0) -> Path:
    """A CSV of short texts (column ``text``) and their topic (column ``topic``)."""
    rng = random.Random(seed)
    rows = ["text,topic"]
    for topic, words in TOPICS.items():
        vocabulary = words.split()
        for _ in range(per_class):
            text = " ".join(rng.choice(vocabulary + FILLER) for _ in range(rng.randint(4, 9)))
            rows.append(f"{text},{topic}")
    path.write_text("\n".join(rows) + "\n")
    return path


def write_tiny_bert(folder: Path, *, layers: int = 2) -> Path:
    """A randomly initialised 2-layer BERT of width 32 and its word-level tokenizer, saved with
    ``save_pretrained`` as a pretrained model would be (no classification head)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w for text in TOPICS.values() for w in text.split()} | set(FILLER))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_space(
    workdir: Path,
    pretrained: str,
    *,
    unfreeze: str = "all",
    adapter: str = "none",
    n_trials: int = 1,
) -> Path:
    """``tiny-hf.yaml`` in ``workdir`` (beside ``texts.csv``)."""
    path = workdir / "tiny-hf.yaml"
    path.write_text(
        TINY_SPACE.format(
            pretrained=pretrained, unfreeze=unfreeze, adapter=adapter, n_trials=n_trials
        )
    )
    return path
