"""Tests for orchestrator/data: the registry, every loader and its bad-data messages, the shared
split path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from orchestrator.config import DataConfig
from orchestrator.data import LOADERS, Splits, apply_preprocessing, load_data, make_splits
from orchestrator.errors import DataError


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_data(DataConfig(name="digits"), seed=0)


@pytest.fixture(scope="module")
def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def test_digits_spec_and_types(digits: Splits) -> None:
    # 8x8 single-channel images, 10 classes; x float32 and y int64 on the cpu
    spec = digits.spec
    assert (spec.kind, spec.input_shape, spec.num_classes) == ("image", (1, 8, 8), 10)
    assert spec.class_names == [str(i) for i in range(10)]
    for x, y in (digits.train, digits.val, digits.test):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.device.type == "cpu" and x.shape[1:] == (1, 8, 8) and len(x) == len(y)


def test_digits_split_sizes_and_stratification(digits: Splits) -> None:
    # 1797 samples: 15% test (270), 15% of the whole for val (270), the rest train
    assert digits.sizes == {"train": 1257, "val": 270, "test": 270}
    # stratified: every split holds each class in the data set's proportion, to within 2 samples
    # (two rounded splits: test first, then val; a random split would be off by ~10)
    all_y = np.concatenate([digits.train[1], digits.val[1], digits.test[1]])
    share = np.bincount(all_y, minlength=10) / len(all_y)
    for _, y in (digits.train, digits.val, digits.test):
        counts = np.bincount(y.numpy(), minlength=10)
        assert np.abs(counts - share * len(y)).max() <= 2.0


def test_digits_splits_do_not_overlap(digits: Splits, raw_digits: tuple) -> None:
    # the three splits are disjoint and cover every row once
    rows = digits.indices
    train, val, test = (set(rows[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(1797))
    # and each split's labels are the source rows' labels
    _, target = raw_digits
    assert np.array_equal(digits.val[1].numpy(), target[rows["val"]])


def test_normalization_uses_train_statistics_only(digits: Splits, raw_digits: tuple) -> None:
    images, _ = raw_digits
    norm = digits.preprocessing["normalize"]
    # one mean/std for the single channel, computed on the training rows only
    train_pixels = images[digits.indices["train"]]
    assert norm["mode"] == "per_channel"
    assert norm["mean"] == pytest.approx([train_pixels.mean()])
    assert norm["std"] == pytest.approx([train_pixels.std()])
    assert norm["mean"][0] != pytest.approx(images.mean(), abs=1e-6)  # not the whole data's
    # so the train split is standardised exactly, the others only roughly
    x = digits.train[0]
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x.std()) == pytest.approx(1.0, abs=1e-3)
    assert abs(float(digits.val[0].mean())) < 0.1


def test_preprocessing_reproduces_splits(digits: Splits, raw_digits: tuple) -> None:
    # the JSON record is enough to prepare raw input (flat 64 pixels) exactly like the test split
    record = json.loads(json.dumps(digits.preprocessing))
    images, _ = raw_digits
    raw = images[digits.indices["test"]].reshape(-1, 64)
    prepared = apply_preprocessing(raw, record)
    assert prepared.shape == (270, 1, 8, 8) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, digits.test[0].numpy(), rtol=1e-6, atol=1e-6)


def test_no_normalization(raw_digits: tuple) -> None:
    # normalize: false keeps raw pixel values (0..16) and records no statistics
    splits = load_data(DataConfig(normalize=False), seed=0)
    assert splits.preprocessing["normalize"] is None
    assert float(splits.train[0].min()) == 0.0 and float(splits.train[0].max()) == 16.0


def test_seeded_determinism(digits: Splits) -> None:
    # the same seed gives the same split; another seed gives another
    again = load_data(DataConfig(), seed=0)
    assert torch.equal(again.train[0], digits.train[0]) and torch.equal(again.val[1], digits.val[1])
    other = load_data(DataConfig(), seed=1)
    assert not np.array_equal(other.indices["val"], digits.indices["val"])


def test_unknown_data_set() -> None:
    # the message lists every registered name
    with pytest.raises(DataError) as info:
        load_data(DataConfig(name="nope"), seed=0)
    assert str(info.value) == (
        "data.name: unknown data set 'nope'; valid names: breast_cancer, csv, diabetes, digits, "
        "images, iris, mnist1d, npz, wine"
    )
    assert "digits" in LOADERS


def test_fractions_must_leave_training_data() -> None:
    # val + test >= 1 leaves nothing to train on
    with pytest.raises(DataError, match=r"val_fraction \+ test_fraction must be < 1"):
        load_data(DataConfig(val_fraction=0.5, test_fraction=0.5), seed=0)


def test_make_splits_features_with_string_labels() -> None:
    # tables: labels of any type become sorted class indices, statistics are per feature
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[0.0, 10.0, -5.0], scale=[1.0, 3.0, 0.5], size=(200, 3))
    y = np.array(["cat", "dog"] * 100)
    splits = make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="table.csv")
    assert splits.spec.class_names == ["cat", "dog"] and splits.spec.input_shape == (3,)
    assert splits.preprocessing["normalize"]["mode"] == "per_feature"
    assert splits.train[0].mean(dim=0).abs().max() < 1e-5
    assert splits.train[0].std(dim=0, unbiased=False).sub(1).abs().max() < 1e-3


def test_make_splits_class_too_small_to_split() -> None:
    # a class with fewer samples than splits cannot be in each: one line, naming the class
    x = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array(["a"] * 10 + ["b"] * 8 + ["c"] * 2)
    with pytest.raises(DataError) as info:
        make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="tiny")
    assert str(info.value) == (
        "tiny: class 'c' has 2 samples, too few to split: a stratified train/val/test split "
        "needs at least 3 per class; add samples of it or remove the class"
    )


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros((4, 3)), np.arange(5) % 2, {}, "x has 4 rows but y has 5 labels"),
        (np.zeros((4, 2, 2)), np.zeros(4, int), {}, "features data needs samples of rank 1"),
        (np.zeros((4, 3)), np.array([0, 1, 2, 3]), {"class_names": ["a"]}, r"in \[0, 1\)"),
        (
            np.zeros((4, 3)),
            np.array([1.5, 2.0, 0.25, 1.0]),
            {"task": "multiclass"},
            r"s: the labels are real numbers \(e.g. 1.5\), not classes; set data.task: "
            "regression to predict them",
        ),
        (np.zeros((4, 3)), np.array([1.0, np.nan, 0.0, 1.0]), {}, r"s: 1 labels are missing"),
        (
            np.zeros((4, 3)),
            np.array(["yes"] * 4),
            {},
            r"s: classification needs at least two classes, found 1 \('yes'\)",
        ),
        (
            np.zeros((20, 3)),
            np.array([0] * 17 + [1] * 3),
            {"class_names": ["a", "b", "c"], "rows": None, "test_rows": np.arange(18, 20)},
            "s: class 'b' has 1 sample outside the test split, too few to split",
        ),
    ],
)
def test_make_splits_rejects_inconsistent_input(x, y, kwargs: dict, message: str) -> None:
    # a loader's inconsistent arrays are reported with the source's name
    config = DataConfig(task=kwargs.pop("task", "auto"))
    with pytest.raises(DataError, match=message):
        make_splits(x, y, kind="features", config=config, seed=0, source="s", **kwargs)


def test_import_is_cheap() -> None:
    # importing the package imports neither torch nor scikit-learn nor numpy
    code = (
        "import sys, orchestrator.data\n"
        "for mod in ('torch', 'sklearn', 'numpy'):\n"
        "    assert mod not in sys.modules, mod"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_import_each_other_one_way() -> None:
    # the modules of data/ import each other without a cycle, imports inside functions included
    import ast

    import orchestrator.data

    folder = Path(orchestrator.data.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("_*.py"):
        targets = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("orchestrator.data._"):
                    targets.add(node.module.rsplit(".", 1)[1])
                elif node.module == "orchestrator.data":
                    targets.update(a.name for a in node.names if a.name.startswith("_"))

    def cycle_from(module: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in trail:
            return (*trail, module)
        for target in sorted(graph.get(module, ())):
            found = cycle_from(target, (*trail, module))
            if found:
                return found
        return None

    assert {m: cycle_from(m, ()) for m in graph} == dict.fromkeys(graph)


def test_integer_valued_float_labels_are_classes() -> None:
    # 0.0/1.0 (a label column pandas read as floats) are two classes, not real numbers
    x = np.arange(60, dtype=float).reshape(30, 2)
    y = np.array([0.0, 1.0, 2.0] * 10)
    splits = make_splits(x, y, kind="features", config=DataConfig(), seed=0, source="t")
    assert splits.spec.class_names == ["0", "1", "2"]


# --- bundled sets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "features", "classes", "rows"),
    [("iris", 4, 3, 150), ("wine", 13, 3, 178), ("breast_cancer", 30, 2, 569)],
)
def test_bundled_tables(name: str, features: int, classes: int, rows: int) -> None:
    # scikit-learn's tables: features, standardized per feature on the train split
    splits = load_data(DataConfig(name=name), seed=0)
    assert (splits.spec.kind, splits.spec.input_shape) == ("features", (features,))
    assert splits.spec.num_classes == classes and sum(splits.sizes.values()) == rows
    assert splits.train[0].mean(dim=0).abs().max() < 1e-4


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def mnist1d(mnist1d_cache: str) -> Splits:
    state = np.random.get_state()
    splits = load_data(DataConfig(name="mnist1d", cache_dir=mnist1d_cache), seed=0)
    # mnist1d's generator seeds NumPy's global generator: its state is given back
    assert np.array_equal(np.random.get_state()[1], state[1])
    return splits


def test_mnist1d_published_split(mnist1d: Splits) -> None:
    # 40-step signals, 10 classes; test = the published last 1,000; val = 15% of the 4,000
    assert (mnist1d.spec.kind, mnist1d.spec.input_shape) == ("sequence", (1, 40))
    assert mnist1d.sizes == {"train": 3400, "val": 600, "test": 1000}
    assert np.array_equal(mnist1d.indices["test"], np.arange(4000, 5000))
    assert mnist1d.preprocessing["published_test_split"] is True
    # the published data (seed 42): its test split's class counts
    counts = np.bincount(mnist1d.test[1].numpy(), minlength=10)
    assert counts.tolist() == [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]


def test_mnist1d_is_cached(
    mnist1d: Splits, mnist1d_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first load wrote the cache; later loads never generate again
    from orchestrator.data import _bundled

    assert len(list(Path(mnist1d_cache).glob("mnist1d-*"))) == 1

    def fail(settings: dict) -> None:
        raise AssertionError("generated again")

    monkeypatch.setattr(_bundled, "_generate_mnist1d", fail)
    again = load_data(DataConfig(name="mnist1d", cache_dir=mnist1d_cache), seed=0)
    assert torch.equal(again.test[0], mnist1d.test[0])
    # HPO_CACHE_DIR is the default cache folder
    monkeypatch.setenv("HPO_CACHE_DIR", mnist1d_cache)
    load_data(DataConfig(name="mnist1d"), seed=0)
    # without the published split, every sample is split by the fractions
    resplit = load_data(
        DataConfig(name="mnist1d", cache_dir=mnist1d_cache, published_split=False), seed=0
    )
    assert resplit.sizes == {"train": 3500, "val": 750, "test": 750}


# --- csv -----------------------------------------------------------------------------------------


def _table_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "size": rng.normal(100, 20, n),
            "color": rng.choice(["red", "blue"], n),
            "weight": rng.normal(5, 1, n),
            "label": np.array(["cat", "dog", "eel"] * 20),
        }
    )
    frame.loc[3, "size"] = np.nan
    frame.loc[4, "color"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_csv_table(tmp_path: Path) -> None:
    # numeric columns standardized, the categorical one one-hot (0/1), missing values handled
    path = _table_csv(tmp_path / "t.csv")
    splits = load_data(DataConfig(name="csv", path=str(path), target="label"), seed=0)
    encoding = splits.preprocessing["encoding"]
    assert encoding["feature_names"] == ["size", "color=blue", "color=red", "weight"]
    assert splits.spec.class_names == ["cat", "dog", "eel"]
    x = torch.cat([splits.train[0], splits.val[0], splits.test[0]])
    assert torch.isfinite(x).all()
    onehot = x[:, 1:3]
    assert set(onehot.unique().tolist()) <= {0.0, 1.0}  # one-hot columns are left as 0/1
    assert splits.train[0][:, [0, 3]].mean(dim=0).abs().max() < 1e-5  # numeric: standardized
    # the missing colour is all zeros; the missing size is the train median
    rows = {int(r): i for i, r in enumerate(np.concatenate(list(splits.indices.values())))}
    assert onehot[rows[4]].tolist() == [0.0, 0.0]
    frame = pd.read_csv(path)
    median = frame["size"].iloc[splits.indices["train"]].median()
    assert encoding["columns"][0]["fill"] == pytest.approx(median)
    # the record prepares new rows (a DataFrame) exactly as the test split
    test_rows = frame.iloc[splits.indices["test"]].drop(columns="label")
    prepared = apply_preprocessing(test_rows, json.loads(json.dumps(splits.preprocessing)))
    np.testing.assert_allclose(prepared, splits.test[0].numpy(), rtol=1e-5, atol=1e-5)


def test_csv_feature_columns(tmp_path: Path) -> None:
    path = _table_csv(tmp_path / "t.csv")
    config = DataConfig(name="csv", path=str(path), target="label", features=["weight"])
    assert load_data(config, seed=0).spec.input_shape == (1,)


def test_csv_text(tmp_path: Path) -> None:
    # a text column: word ids padded and truncated to max_length; vocabulary from train only
    texts = [f"the cat sat on mat number {i}" for i in range(30)]
    texts += [f"a dog ran in park number {i}, fast!" for i in range(30)]
    frame = pd.DataFrame({"review": texts, "label": ["cat"] * 30 + ["dog"] * 30})
    frame.loc[0, "review"] = np.nan  # no text: all padding
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    config = DataConfig(name="csv", path=str(path), target="label", text="review", max_length=6)
    splits = load_data(config, seed=0)
    encoding = splits.preprocessing["encoding"]
    vocab = encoding["vocab"]
    assert (splits.spec.kind, splits.spec.input_shape) == ("tokens", (6,))
    assert splits.spec.vocab_size == len(vocab) and vocab[:2] == ["<pad>", "<unk>"]
    assert splits.train[0].dtype == torch.int64
    # numbers only in val/test rows are unknown (id 1): the vocabulary saw the train rows only
    train_numbers = {str(i % 30) for i in splits.indices["train"].tolist()}
    assert {t for t in vocab if t.isdigit()} == train_numbers
    # truncation: "a dog ran in park number" (6 of 9 tokens); padding after "the cat..." (7)
    encoded = apply_preprocessing(["A dog ran in the park", "cat"], splits.preprocessing)
    assert encoded.shape == (2, 6) and encoded[1].tolist()[1:] == [0] * 5
    assert encoded[0].tolist() == [vocab.index(t) for t in ["a", "dog", "ran", "in", "the", "park"]]
    everything = torch.cat([splits.train[0], splits.val[0], splits.test[0]])
    rows = np.concatenate(list(splits.indices.values()))
    assert everything[int(np.flatnonzero(rows == 0)[0])].tolist() == [0] * 6


def test_char_tokenizer(tmp_path: Path) -> None:
    frame = pd.DataFrame({"t": ["ab  c", "ba", "cc"] * 10, "y": [0, 1, 1] * 10})
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    config = DataConfig(
        name="csv", path=str(path), target="y", text="t", tokenizer="char", max_length=5
    )
    splits = load_data(config, seed=0)
    vocab = splits.preprocessing["encoding"]["vocab"]
    assert sorted(vocab[2:]) == [" ", "a", "b", "c"]  # runs of spaces are one space


def _bad_csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("content", "settings", "message"),
    [
        (None, {"target": "y"}, "data.path: file not found: {dir}/missing.csv"),
        ("a,b,y\n1,2,0\n", {}, "data.target: name the target column of {path} (columns: a, b, y)"),
        (
            "a,b,y\n1,2,0\n",
            {"target": "label"},
            "data.target: no column 'label' in {path} (columns: a, b, y)",
        ),
        (
            "a,price\n" + "".join(f"{i},{i * 1.5}\n" for i in range(20)),
            {"target": "price", "task": "multiclass"},
            "{path}: column 'price': the labels are real numbers (e.g. 1.5), not classes; set "
            "data.task: regression to predict them, or give class labels",
        ),
        (
            "a,y\n" + "".join(f"{i},same\n" for i in range(20)),
            {"target": "y"},
            "{path}: column 'y': classification needs at least two classes, found 1 ('same'); "
            "check the label column",
        ),
        (
            "a,y\n" + "".join(f"{i},{'rare' if i < 2 else 'common'}\n" for i in range(20)),
            {"target": "y"},
            "{path}: column 'y': class 'rare' has 2 samples, too few to split: a stratified "
            "train/val/test split needs at least 3 per class; add samples of it or remove the "
            "class",
        ),
        (
            "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)),
            {"target": "y", "features": ["a", "b"]},
            "data.features: no column 'b' in {path} (columns: a, y)",
        ),
        (
            "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)),
            {"target": "y", "text": "body"},
            "data.text: no column 'body' in {path} (columns: a, y)",
        ),
        (
            "a,b,y\n",
            {"target": "y"},
            "data.path: {path} has a header (a, b, y) but no rows; give it the data",
        ),
        (
            "body,y\n" + "".join(f",{i % 2}\n" for i in range(20)),
            {"target": "y", "text": "body"},
            "data.text: column 'body' of {path} is empty in every row; name the column that "
            "holds the text (columns: body, y)",
        ),
        (
            "a,b,y\n" + "".join(f"{i},,{i % 2}\n" for i in range(20)),
            {"target": "y"},
            "data.features: column 'b' of {path} is empty in every row; leave it out of "
            "data.features",
        ),
        (
            "age,y\n" + "".join(f"{'abc' if i in (4, 9) else i},{i % 2}\n" for i in range(40)),
            {"target": "y"},
            "data.features: column 'age' of {path} holds numbers but for 2 cell(s) (row 6 "
            "'abc', row 11 'abc'); fix or blank them (a blank cell is filled with the training "
            "median), add the marker to data.missing, or list the column in data.categorical",
        ),
    ],
    ids=[
        "missing-file",
        "no-target",
        "wrong-target",
        "float-target",
        "one-class",
        "rare-class",
        "unknown-feature",
        "unknown-text",
        "header-only",
        "empty-text",
        "empty-feature",
        "numeric-but-few",
    ],
)
def test_csv_bad_data(tmp_path: Path, content: str | None, settings: dict, message: str) -> None:
    # (header-only, empty text or feature, a numeric column with a few stray cells: refused, not
    # trained at chance or encoded as dozens of one-hot columns)
    # each problem is one line naming the file, the column and the fix
    path = _bad_csv(tmp_path, content) if content is not None else str(tmp_path / "missing.csv")
    with pytest.raises(DataError) as info:
        load_data(DataConfig(name="csv", path=path, **settings), seed=0)
    assert str(info.value) == message.format(path=path, dir=tmp_path)


# --- npz -----------------------------------------------------------------------------------------


def _npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    ("shape", "kind", "spec_kind", "input_shape"),
    [
        ((40, 5), "auto", "features", (5,)),
        ((40, 2, 6, 7), "auto", "image", (2, 6, 7)),
        ((40, 6, 7), "image", "image", (1, 6, 7)),
        ((40, 12, 3), "sequence", "sequence", (3, 12)),  # (N, T, F) -> F channels of T steps
        ((40, 12), "sequence", "sequence", (1, 12)),
    ],
)
def test_npz_kinds(
    tmp_path: Path, shape: tuple, kind: str, spec_kind: str, input_shape: tuple
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    path = _npz(tmp_path, x=x, y=np.arange(40) % 2)
    splits = load_data(DataConfig(name="npz", path=path, kind=kind), seed=0)
    assert (splits.spec.kind, splits.spec.input_shape) == (spec_kind, input_shape)
    # raw samples in the archive's layout are prepared exactly as the test split
    prepared = apply_preprocessing(x[splits.indices["test"]], splits.preprocessing)
    np.testing.assert_allclose(prepared, splits.test[0].numpy(), rtol=1e-5, atol=1e-5)


def test_npz_key_names(tmp_path: Path) -> None:
    path = _npz(tmp_path, inputs=np.zeros((30, 2)), labels=np.arange(30) % 3)
    config = DataConfig(name="npz", path=path, x_key="inputs", y_key="labels")
    assert load_data(config, seed=0).spec.num_classes == 3


@pytest.mark.parametrize(
    ("arrays", "settings", "message"),
    [
        (
            {"x": np.zeros((10, 3)), "y": np.arange(9) % 2},
            {},
            "{path}: x (x) has 10 rows but y (y) has 9 labels; they must be the same length",
        ),
        (
            {"x": np.zeros((10, 3)), "labels": np.arange(10) % 2},
            {},
            "data.y_key: no array 'y' in {path} (arrays: x, labels)",
        ),
        (
            {"x": np.zeros((10, 4, 5)), "y": np.arange(10) % 2},
            {},
            "{path}: x of shape (10, 4, 5) may be images (N, H, W) or sequences (N, T, F); set "
            "data.kind: image or data.kind: sequence",
        ),
        (
            {"x": np.zeros((10, 8, 8, 3)), "y": np.arange(10) % 2},
            {},
            "{path}: x of shape (10, 8, 8, 3) looks channels-last (N, H, W, C); store it as "
            "(N, C, H, W), e.g. np.transpose(x, (0, 3, 1, 2))",
        ),
        (
            {"x": np.zeros((10, 3)), "y": np.arange(10) % 2},
            {"kind": "image"},
            "{path}: image data needs x of shape (N, H, W) or (N, C, H, W), got (10, 3)",
        ),
    ],
    ids=["lengths", "missing-key", "ambiguous", "channels-last", "wrong-kind"],
)
def test_npz_bad_data(tmp_path: Path, arrays: dict, settings: dict, message: str) -> None:
    path = _npz(tmp_path, **arrays)
    with pytest.raises(DataError) as info:
        load_data(DataConfig(name="npz", path=path, **settings), seed=0)
    assert str(info.value) == message.format(path=path)


def test_npz_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    path.write_text("not a zip")
    with pytest.raises(DataError, match=rf"data.path: cannot read {path} as a .npz archive"):
        load_data(DataConfig(name="npz", path=str(path)), seed=0)


# --- image folders -------------------------------------------------------------------------------


def _image_folder(root: Path, *, per_class: int = 4) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, suffix in (("cats", ".png"), ("dogs", ".JPG")):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, size=(10 + i, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}{suffix}")
    (root / "cats" / "notes.txt").write_text("not an image, skipped")
    return root


def test_images_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one class per sub-folder, PNG and JPEG, resized to image_size; decoded once, then cached
    root = _image_folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    config = DataConfig(name="images", path=str(root), image_size=8, cache_dir=str(cache))
    splits = load_data(config, seed=0)
    assert splits.spec.class_names == ["cats", "dogs"]
    assert (splits.spec.kind, splits.spec.input_shape) == ("image", (3, 8, 8))
    assert sum(splits.sizes.values()) == 8
    assert len(list(cache.glob("images-*"))) == 1

    from orchestrator.data import _arrays

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(_arrays, "read_image", fail)
    again = load_data(config, seed=0)
    assert torch.equal(again.train[0], splits.train[0])
    # another size or colour is another cache entry (and decodes)
    monkeypatch.undo()
    gray = load_data(config.model_copy(update={"color": "gray", "image_size": 6}), seed=0)
    assert gray.spec.input_shape == (1, 6, 6)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("corrupt", "data.path: cannot read image {root}/dogs/bad.png: cannot identify image file"),
        ("empty-class", "data.path: class folder 'empty' holds no PNG or JPEG images"),
        ("no-folders", "data.path: {root} has no sub-folders; put each class's images in a"),
        ("missing", "data.path: folder not found: {root}/nowhere"),
        ("one-class", "data.path: {root} has one class folder ('cats'); classification needs"),
    ],
)
def test_images_bad_data(tmp_path: Path, setup: str, message: str) -> None:
    root = tmp_path / "pets"
    path = root
    if setup == "no-folders":
        root.mkdir()
    else:
        _image_folder(root)
    if setup == "corrupt":
        (root / "dogs" / "bad.png").write_bytes(b"definitely not a png")
    elif setup == "empty-class":
        (root / "empty").mkdir()
    elif setup == "missing":
        path = root / "nowhere"
    elif setup == "one-class":
        import shutil

        shutil.rmtree(root / "dogs")
    config = DataConfig(name="images", path=str(path), image_size=8, cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError) as info:
        load_data(config, seed=0)
    assert str(info.value).startswith(message.format(root=root))


# --- before any trial: `hpo run` stops with one line and exit code 2 -----------------------------
# (the checks themselves are tested in test_models.py and test_augment.py; these two show that
# the study runs them before its first trial)


@pytest.mark.parametrize(
    ("data", "model", "train", "message"),
    [
        (
            "{name: digits}",
            "{family: mlp}",
            "{epochs: 1, augment: {time_mask: {type: int, low: 0, high: 3}}}",
            "Error: {space}: train.augment.time_mask: time_mask applies to sequence data, but "
            "the data is image; remove it",
        ),
        (
            "{name: digits}",
            "{family: custom, factory: 'no_such_module:build'}",
            "{epochs: 1}",
            "Error: model.factory: 'no_such_module:build': no module named 'no_such_module' in "
            "the working directory",
        ),
    ],
    ids=["foreign-augmentation", "custom-factory"],
)
def test_bad_data_stops_hpo_run_before_any_trial(
    stores: dict[str, str], workdir: Path, data: str, model: str, train: str, message: str
) -> None:
    import optuna
    from click.testing import CliRunner

    from orchestrator.cli import cli

    space = workdir / "space.yaml"
    space.write_text(f"study: {{n_trials: 2}}\ndata: {data}\nmodel: {model}\ntrain: {train}\n")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--space",
            str(space),
            "--storage",
            stores["storage"],
            "--tracking-uri",
            stores["tracking_uri"],
        ],
    )
    # one line, exit 2, no traceback, and no trial in the study
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and lines[0].startswith(message.format(space=space)), result.output
    assert "Traceback" not in result.output
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(stores["storage"])
    )
    for summary in optuna.get_all_study_summaries(storage):
        assert summary.n_trials == 0


def test_searched_data_settings_are_refused_at_any_depth() -> None:
    # data is loaded once per study: a search parameter anywhere in data is a problem, at its path
    from orchestrator.errors import SpaceError
    from orchestrator.space import parse_space
    from orchestrator.study._preflight import _fixed_data_config

    space = parse_space(
        "data:\n  name: mnist1d\n  mnist1d: {seed: {type: int, low: 1, high: 3}}\n"
        "model: {family: cnn}\n"
    )
    with pytest.raises(SpaceError) as info:
        _fixed_data_config(space)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("data.mnist1d.seed", "data settings are fixed for a study; give one value")
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"name": "digits", "image_size": 64},
            "data.image_size: digits does not read it (only images does); remove it",
        ),
        (
            {"name": "iris", "path": "x.csv"},
            "data.path: iris does not read it (only csv, npz or images do); remove it",
        ),
        (
            {"name": "csv", "path": "x.csv", "x_key": "inputs"},
            "data.x_key: csv does not read it (only npz does); remove it",
        ),
    ],
)
def test_settings_the_loader_does_not_read(settings: dict, message: str) -> None:
    # a setting changed for nothing is a mistake: said, not silently ignored
    with pytest.raises(DataError) as info:
        load_data(DataConfig(**settings), seed=0)
    assert str(info.value) == message


def test_a_column_listed_as_categorical_is_encoded_as_categories(tmp_path: Path) -> None:
    rows = "".join(f"{'unk' if i in (4, 9) else i % 3},{i % 2}\n" for i in range(40))
    path = _bad_csv(tmp_path, "grade,y\n" + rows)
    splits = load_data(DataConfig(name="csv", path=path, target="y", categorical=["grade"]), seed=0)
    # the values it holds (0, 1, 2 and unk) each become a one-hot column
    assert splits.spec.input_shape == (4,)
