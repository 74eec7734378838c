"""Predict with a shipped model: raw input in, predictions out, as the model's task gives them.

:func:`predict` loads a model logged by ``hpo retrain`` (``models:/NAME/VERSION``, a run id, ...),
reads ``preprocessing.json`` from inside its folder, prepares the raw input exactly as the
training data was prepared (:func:`orchestrator.data.apply_preprocessing`), and writes one row per
sample: ``row``, the input's identifier columns, then the prediction: the class (or the value) in
a column named after the target, or one 0/1 column per label, and with ``proba`` the probability
of every class or label (``proba_<class>``).

Input: a CSV file, or a NumPy ``.npy``/``.npz`` file. For array data (images, sequences,
features) each row holds one sample's raw values, flattened (64 pixel values for the 8x8
digits), with or without a header line; a ``.npy`` array may also keep the sample's own shape
(``(N, 8, 8)``). For a CSV data set (a table or a text column) the file needs the columns the
model was trained on, by name. A text model (hpo's own vocabulary, or a fine-tuned pretrained
model, which loads its base model and tokenizer from where it was fine-tuned) also takes raw
text rows: a ``.txt`` file, one text per line. Anything else is refused with what was expected
and what came.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from orchestrator.shipped import Bundle

__all__ = ["PREPROCESSING_FILE", "PredictResult", "load_shipped", "predict", "read_input"]

logger = logging.getLogger(__name__)

PREPROCESSING_FILE = "preprocessing.json"
BATCH_SIZE = 1024  # samples per forward pass
_TABLE_KINDS = ("table", "text", "hf_text")  # encodings read by column name from a CSV
_TEXT_KINDS = ("text", "hf_text")  # encodings of one text column: also read from .txt lines


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict` wrote."""

    out: Path
    rows: int
    model: str
    class_names: list[str]
    counts: dict[str, int]  # predictions per class (rows per label); empty for values
    task: str = "multiclass"

    @property
    def counted(self) -> str:
        """What :attr:`counts` counts, in words."""
        return "labels (rows with each)" if self.task == "multilabel" else "classes"


def load_shipped(model: str, dst: str | Path, *, tracking_uri: str | None = None) -> Bundle:
    """The shipped model ``model`` as a :class:`~orchestrator.shipped.Bundle`: hpo's MLflow
    model (one network or an ensemble), or a pt2 model of an earlier ``hpo retrain`` with its
    ``preprocessing.json``.

    Raises:
        ConfigError: no such model, or a model that was not shipped by hpo.
    """
    from orchestrator.data import DataSpec
    from orchestrator.shipped import Bundle, Member
    from orchestrator.tracking import download_model, load_pytorch_model

    folder = download_model(model, dst, tracking_uri=tracking_uri)
    if Bundle.found_in(folder):
        return Bundle.load(folder)
    found = sorted(folder.rglob(PREPROCESSING_FILE))
    if not found:
        raise ConfigError(
            f"--model {model}: the model has no {PREPROCESSING_FILE}, so its input cannot be "
            "prepared; use a model shipped by hpo retrain or hpo ensemble"
        )
    record = json.loads(found[0].read_text())
    spec = DataSpec.from_dict(record["spec"])
    member = Member(model={}, spec=spec, state={}, _module=load_pytorch_model(folder))
    extra = {k: v for k, v in record.items() if k not in ("spec", "preprocessing")}
    return Bundle([member], record["preprocessing"], record=extra)


def _encoding_type(preprocessing: dict[str, Any]) -> str | None:
    return (preprocessing.get("encoding") or {}).get("type")


def read_input(path: str | Path, preprocessing: dict[str, Any]) -> Any:
    """The raw samples of ``path`` in the form :func:`apply_preprocessing` takes for this model.

    Raises:
        DataError: an unreadable file, or one whose columns or shape do not fit the model.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    kind = _encoding_type(preprocessing)
    if kind in _TEXT_KINDS and suffix == ".txt":
        return _read_lines(path)
    if kind in _TABLE_KINDS:
        if suffix != ".csv":
            texts = " or a .txt file of one text per line" if kind in _TEXT_KINDS else ""
            raise DataError(
                f"{path}: this model takes a table with named columns; give a .csv file{texts}"
            )
        return _read_table(path, preprocessing)
    if suffix in (".npy", ".npz"):
        return _check_shape(path, _read_numpy(path), preprocessing)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_numeric_csv(path, preprocessing)
    raise DataError(f"{path}: unknown input format {suffix or '(none)'}; give a .csv, .npy or .npz")


def _sample_size(preprocessing: dict[str, Any]) -> int:
    return math.prod(int(d) for d in preprocessing["input_shape"])


def _shape_text(preprocessing: dict[str, Any]) -> str:
    return "x".join(str(int(d)) for d in preprocessing["input_shape"])


def _read_numpy(path: Path) -> np.ndarray:
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it as NumPy data ({exc})") from exc
    if not isinstance(loaded, np.ndarray):  # .npz: one array, or one named x/X/data/images
        names = list(loaded.files)
        pick = next((n for n in ("x", "X", "data", "images") if n in names), None)
        if pick is None and len(names) == 1:
            pick = names[0]
        if pick is None:
            raise DataError(
                f"{path}: holds arrays {', '.join(names)}; name the samples x (or keep only one)"
            )
        loaded = loaded[pick]
    if not np.issubdtype(loaded.dtype, np.number) and loaded.dtype != bool:
        raise DataError(f"{path}: the samples must be numbers, got dtype {loaded.dtype}")
    return loaded


def _check_shape(path: Path, x: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Refuse arrays whose samples do not hold exactly one sample's values."""
    size = _sample_size(preprocessing)
    if x.ndim == 1:
        x = x.reshape(-1, 1) if size == 1 else x.reshape(1, -1)
    per_sample = math.prod(x.shape[1:])
    if x.ndim < 2 or per_sample != size or len(x) == 0:
        raise DataError(
            f"{path}: expected samples of {size} values each (shape {_shape_text(preprocessing)},"
            f" or flattened), got an array of shape {tuple(x.shape)}"
        )
    return x


def _read_numeric_csv(path: Path, preprocessing: dict[str, Any]) -> np.ndarray:
    """One sample per row, all columns numeric; a header line is recognised and skipped."""
    import pandas as pd

    frame = _read_csv(path, header=None)
    header = None
    if len(frame) and not all(_is_number(v) for v in frame.iloc[0]):
        header = [str(v) for v in frame.iloc[0]]
        frame = frame.iloc[1:].reset_index(drop=True)
    size = _sample_size(preprocessing)
    if frame.shape[1] != size:
        named = f" ({_columns_text(header)})" if header else ""
        raise DataError(
            f"{path}: expected {size} numeric columns, one per value of a "
            f"{_shape_text(preprocessing)} sample, got {frame.shape[1]}{named}; "
            "remove label or id columns"
        )
    if frame.empty:
        raise DataError(f"{path}: no samples")
    values = frame.apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        rows, columns = bad.nonzero()
        row, column = int(rows[0]), int(columns[0])
        line = row + 1 + (header is not None)
        name = header[column] if header else f"column {column + 1}"
        raise DataError(
            f"{path}: line {line}, {name}: {frame.iat[row, column]!r} is not a number; "
            "every value must be numeric"
        )
    return values.to_numpy(dtype="float32")


def _read_table(path: Path, preprocessing: dict[str, Any]) -> pd.DataFrame:
    frame = _read_csv(path, header=0)
    encoding = preprocessing.get("encoding") or {}
    if encoding.get("type") in _TEXT_KINDS:
        needed = [encoding["column"]]
    else:
        needed = [c["name"] for c in encoding.get("columns", [])]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(
            f"{path}: lacks the column(s) {', '.join(map(repr, absent))} the model was trained "
            f"on; it has {_columns_text([str(c) for c in frame.columns])}"
        )
    if frame.empty:
        raise DataError(f"{path}: no samples")
    return frame


def _read_lines(path: Path) -> list[str]:
    """Raw text rows: one text per line, blank lines left out."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{path}: no text rows")
    return texts


def _read_csv(path: Path, *, header: int | None) -> pd.DataFrame:
    import pandas as pd

    try:
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, header=header, dtype=str, keep_default_na=False, sep=sep)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read it as CSV ({first})") from exc


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _columns_text(names: list[str] | None) -> str:
    if not names:
        return "no header"
    shown = names if len(names) <= 6 else [*names[:3], "...", *names[-3:]]
    return "columns " + ", ".join(shown)


def _threshold(
    given: float | str | None, record: dict[str, Any], *, task: str, model: str
) -> float | None:
    """The decision threshold asked for: a probability, or ``f1`` for the trial's own."""
    if given is None:
        return None
    if task not in ("binary", "multilabel"):
        raise ConfigError(
            f"--threshold: {model} is a {task} model; a threshold applies to binary and "
            "multilabel models; remove it"
        )
    if given == "f1":
        chosen = (record.get("decision") or {}).get("threshold")
        if chosen is None:
            raise ConfigError(
                f"--threshold f1: {model} records no threshold chosen on the validation "
                "split; give a probability, e.g. --threshold 0.3"
            )
        return float(chosen)
    try:
        value = float(given)
    except (TypeError, ValueError):
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"--threshold: expected a probability in [0, 1] or f1, got {given!r}")
    return value


def _identifiers(raw: Any, preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The input's columns that identify rows, to carry into the predictions."""
    names = (preprocessing.get("encoding") or {}).get("identifiers") or []
    if not hasattr(raw, "columns"):
        return {}
    return {name: raw[name].to_numpy() for name in names if name in raw.columns}


def predict(
    model: str,
    input_path: str | Path,
    *,
    out: str | Path = "predictions.csv",
    tracking_uri: str | None = None,
    batch_size: int = BATCH_SIZE,
    proba: bool = False,
    threshold: float | str | None = None,
) -> PredictResult:
    """Predict every sample in ``input_path`` and write the predictions to ``out`` (CSV).

    What is written follows the model's task: the class (or the value) in a column named after
    the target, one 0/1 column per label; ``proba`` adds ``proba_<class>`` (``proba_<label>``)
    columns. Columns of the input that identify rows (those the model left out as identifiers,
    or ``data.exclude``) are copied beside ``row``.

    Args:
        model: ``models:/NAME/VERSION``, ``models:/NAME/latest``, a run id, ``runs:/ID/model`` or
            a local model folder.
        input_path: a CSV, ``.npy`` or ``.npz`` file of raw samples, or a ``.txt`` file of text
            rows (see the module docstring).
        out: the CSV file to write.
        tracking_uri: where the model is registered; default MLflow's own.
        batch_size: samples per forward pass.
        proba: also the probability of every class or label.
        threshold: a binary or multilabel model's decision threshold: a probability, or ``f1``
            for the one its trial chose on the validation split; default 0.5.

    Raises:
        ConfigError: the model cannot be found or was not shipped by ``hpo retrain``; ``proba``
            or ``threshold`` for a model that predicts values.
        DataError: input of the wrong columns or shape.
    """
    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_shipped(model, tmp, tracking_uri=tracking_uri)
        preprocessing, spec, task = bundle.preprocessing, bundle.spec, bundle.task
        raw = read_input(input_path, preprocessing)
        try:
            predicted = bundle.predict(raw)
        except ValueError as exc:
            raise ConfigError(f"--model {model}: {exc}") from exc
        if len(predicted) == 0:
            raise DataError(f"{input_path}: no samples")
    cut = _threshold(threshold, bundle.record, task=task.name, model=model)
    if proba and task.name == "regression":
        raise ConfigError(f"--proba: {model} predicts values (regression); remove --proba")
    columns = bundle.frame(predicted, proba=proba, threshold=cut)
    kept = _identifiers(raw, preprocessing)
    table = pd.DataFrame({"row": np.arange(len(predicted)), **kept, **columns})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    return PredictResult(
        out=out,
        rows=len(table),
        model=model,
        class_names=[str(c) for c in spec.class_names],
        counts=task.prediction_counts(columns, spec),
        task=task.name,
    )
