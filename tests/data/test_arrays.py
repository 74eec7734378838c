"""orchestrator/data/_arrays.py: an image folder decoded once into the cache as uint8, mapped by
every load; end to end through `hpo run` and `hpo predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import _arrays, load_data


def _folder(root: Path, *, per_class: int = 12, size: int = 10) -> Path:
    """Three classes of small RGB PNGs, each class of its own brightness."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("ants", "bees", "wasps")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 85, size=(size, size, 3), dtype=np.uint8) + 85 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_pixels_are_cached_and_kept_as_uint8_and_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path / "bugs")
    config = DataConfig(name="images", path=str(root), image_size=8, cache_dir=str(tmp_path / "c"))
    mapped = []
    cached = _arrays.cached_arrays

    def keep(*args: object, **kwargs: object) -> tuple:
        arrays, hit = cached(*args, **kwargs)
        mapped.append((arrays["x"], hit))
        return arrays, hit

    monkeypatch.setattr(_arrays, "cached_arrays", keep)
    first = load_data(config, seed=0)
    second = load_data(config, seed=0)
    # one entry of raw uint8 pixels (N, C, H, W); both loads map that file, neither copies it
    (entry,) = (tmp_path / "c").iterdir()
    assert np.load(entry / "x.npy").dtype == np.uint8
    assert [hit for _, hit in mapped] == [False, True]
    for x, _ in mapped:
        assert isinstance(x, np.memmap) and Path(x.filename) == entry / "x.npy"
        assert x.shape == (36, 3, 8, 8)
    # the splits hold uint8 pixels; a batch becomes float32 on its way into the model
    assert first.train[0].dtype == torch.uint8
    assert torch.equal(first.train[0], second.train[0])
    assert first.model_input(first.val[0]).dtype == torch.float32


SPACE = """\
study: {{name: bugs, n_trials: 2, seed: 0, sampler: random, pruner: none}}
data: {{name: images, path: {path}, image_size: 8, cache_dir: {cache}}}
model:
  family: cnn
  depth: 1
  blocks: {{channels: {{type: int, low: 4, high: 8}}}}
train: {{epochs: 2, batch_size: 8, optimizer: {{name: adam, lr: 0.01}}}}
"""


def test_an_image_folder_runs_and_predicts_end_to_end(
    workdir: Path, stores: dict[str, str]
) -> None:
    import pandas as pd
    from click.testing import CliRunner

    from orchestrator.cli import cli
    from orchestrator.predict import load_shipped
    from orchestrator.study import load_study, study_attr
    from orchestrator.train import model_outputs

    root, cache = _folder(workdir / "bugs"), workdir / "cache"
    (workdir / "bugs.yaml").write_text(SPACE.format(path=root, cache=cache))
    options = ["--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"]]
    ran = CliRunner().invoke(cli, ["run", "--space", "bugs.yaml", *options])
    # the preflight, two trials and the test evaluation of the best, on the uint8 splits
    assert ran.exit_code == 0, ran.output
    study = load_study("bugs", storage=stores["storage"])
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "COMPLETE"]
    assert len(list(cache.glob("images-*"))) == 1
    uri = study_attr(study, "hpo.model")["uri"]

    # the test split's raw pixels, as a user has them: (N, C, H, W) values 0-255
    splits = load_data(
        DataConfig(name="images", path=str(root), image_size=8, cache_dir=str(cache)), seed=0
    )
    np.save(workdir / "test.npy", splits.test[0].numpy())
    out = workdir / "p.csv"
    predicted = CliRunner().invoke(
        cli,
        ["predict", "--model", uri, "--input", "test.npy", "--out", str(out), "--proba"],
        catch_exceptions=False,
    )
    assert predicted.exit_code == 0, predicted.output
    table = pd.read_csv(out)
    assert len(table) == len(splits.test[0])
    # the shipped model on raw pixels (standardised by predict) gives what it gives on the
    # splits (standardised batch by batch by model_input): the same probabilities
    bundle = load_shipped(uri, workdir / "shipped", tracking_uri=stores["tracking_uri"])
    (member,) = bundle.members
    network = member.module()
    outputs = model_outputs(network, splits.test[0], device="cpu", prepare=splits.model_input)
    expected = torch.softmax(outputs, dim=1).numpy()
    columns = [c for c in table.columns if c.startswith("p_") or c.startswith("proba")]
    assert len(columns) == 3, table.columns  # one per class
    np.testing.assert_allclose(table[columns].to_numpy(), expected, atol=1e-5)

    # hpo explain takes the uint8 test split as the network does: standardised, float
    explained = CliRunner().invoke(
        cli, ["explain", "--study", "bugs", "--out", str(workdir / "why"), *options]
    )
    assert explained.exit_code == 0, explained.output
    numbers = json.loads((workdir / "why" / "explanation.json").read_text())
    assert numbers["kind"] == "image" and "images" in numbers["pictures"], numbers["skipped"]
