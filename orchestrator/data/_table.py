"""CSV files: a table of features, or a text column, and a label column.

Every encoding is fitted on the training rows only: a numeric column's missing values become its
training median and the column is standardised; a categorical column (text, booleans) becomes one
0/1 column per category seen in training, missing or unseen values all zeros. With ``data.text``
the text column alone is the input: tokenised, with a vocabulary from the training rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.data._split import encode_labels, make_splits, split_rows
from orchestrator.data._text import encode_texts, fit_text_encoding
from orchestrator.errors import DataError, first_line

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = ["encode_table", "fit_table_encoding", "load_csv", "read_labelled", "require_path"]

logger = logging.getLogger(__name__)

_MANY_CATEGORIES = 100  # warn above this many one-hot columns from one column
# a text column whose non-number cells are at most this share of its values is a numeric column
# with a few bad cells, not a categorical one
_NUMERIC_EXCEPTIONS = 0.1


def require_path(config: DataConfig, *, folder: bool = False) -> Path:
    """``data.path``, checked to exist (a file, or a folder with ``folder``).

    Raises:
        DataError: no path given, or nothing there.
    """
    what = "folder" if folder else "file"
    if not config.path:
        raise DataError(
            f"data.path: the {config.name} loader needs the path of its {what}; add path: ..."
        )
    path = Path(config.path).expanduser()
    if not path.exists():
        raise DataError(f"data.path: {what} not found: {config.path}")
    if folder and not path.is_dir():
        raise DataError(
            f"data.path: {config.path} is a file; the {config.name} loader needs a {what}"
        )
    if not folder and path.is_dir():
        raise DataError(
            f"data.path: {config.path} is a folder; the {config.name} loader needs a {what}"
        )
    return path


def read_labelled(config: DataConfig, *, warn: bool = True) -> pd.DataFrame:
    """The CSV file of ``data.path``, every column named by a string, the rows without a label
    left out (with a warning, unless not ``warn``); its ``i``-th row (by position; the index keeps
    the file's row numbers) is row ``i`` of the loader's splits' ``indices``.

    Raises:
        DataError: no such file, one that is not CSV, no such target column, no label at all.
    """
    import pandas as pd

    path = require_path(config)
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        reason = first_line(exc)
        raise DataError(f"data.path: cannot read {config.path} as CSV: {reason}") from exc
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    listing = ", ".join(columns)
    if frame.empty:
        raise DataError(
            f"data.path: {config.path} has a header ({listing}) but no rows; give it the data"
        )
    if config.target is None:
        raise DataError(f"data.target: name the label column of {config.path} (columns: {listing})")
    if config.target not in columns:
        raise DataError(
            f"data.target: no column {config.target!r} in {config.path} (columns: {listing})"
        )
    source = f"{config.path}: column {config.target!r}"
    missing = frame[config.target].isna().to_numpy()
    if missing.all():
        raise DataError(f"{source}: every label is missing")
    if missing.any() and warn:
        logger.warning("%s: %d rows without a label are left out", source, int(missing.sum()))
    if missing.any():
        frame = frame.loc[~missing]  # the index keeps the file's row numbers, for messages
    return frame


def load_csv(config: DataConfig, *, seed: int) -> Splits:
    """A CSV file: ``data.target`` is the label; ``data.features`` (default: every other column)
    are encoded as a table, or ``data.text`` makes it text classification."""
    import numpy as np

    frame = read_labelled(config)
    columns = list(frame.columns)
    listing = ", ".join(columns)
    source = f"{config.path}: column {config.target!r}"
    y, names = encode_labels(frame[config.target].to_numpy(), source=source)
    rows = split_rows(y, config=config, seed=seed, source=source, class_names=names)

    if config.text is not None:
        return _text_splits(frame, y, names, rows, config=config, seed=seed, listing=listing)

    features = config.features or [c for c in columns if c != config.target]
    unknown = [c for c in features if c not in columns]
    if unknown:
        raise DataError(
            f"data.features: no column {', '.join(map(repr, unknown))} in {config.path} "
            f"(columns: {listing})"
        )
    if config.target in features:
        raise DataError(f"data.features: the target {config.target!r} cannot be a feature too")
    if not features:
        raise DataError(f"data.features: {config.path} has no column besides the target")
    unknown = [c for c in config.categorical or [] if c not in features]
    if unknown:
        raise DataError(
            f"data.categorical: {', '.join(map(repr, unknown))} is not a feature column of "
            f"{config.path} (features: {', '.join(features)})"
        )
    _check_features(frame, features, config)
    encoding = fit_table_encoding(
        frame[features].iloc[rows["train"]], categorical=config.categorical or ()
    )
    x = encode_table(frame, encoding)
    standardize = np.array([kind == "numeric" for kind in encoding["feature_kinds"]], dtype=bool)
    return make_splits(
        x,
        y,
        kind="features",
        config=config,
        seed=seed,
        source=str(config.path),
        class_names=names,
        rows=rows,
        standardize=standardize,
        encoding=encoding,
    )


def _text_splits(
    frame: pd.DataFrame,
    y: np.ndarray,
    names: list[str],
    rows: dict[str, np.ndarray],
    *,
    config: DataConfig,
    seed: int,
    listing: str,
) -> Splits:
    column = config.text
    assert column is not None
    if column not in frame.columns:
        raise DataError(f"data.text: no column {column!r} in {config.path} (columns: {listing})")
    if column == config.target:
        raise DataError(f"data.text: the target {column!r} cannot be the text column too")
    if config.features is not None:
        raise DataError(
            "data.features: a text column is the only input for now; remove features or text"
        )
    texts = frame[column]
    if not texts.map(lambda t: isinstance(t, str) and bool(t.strip())).any():
        raise DataError(
            f"data.text: column {column!r} of {config.path} is empty in every row; name the "
            f"column that holds the text (columns: {listing})"
        )
    train_texts = [t for t in texts.iloc[rows["train"]] if isinstance(t, str)]
    encoding = fit_text_encoding(
        train_texts,
        column=column,
        tokenizer=config.tokenizer,
        max_length=config.max_length,
        min_freq=config.min_freq,
        max_vocab=config.max_vocab,
    )
    ids = encode_texts(texts.tolist(), encoding)
    return make_splits(
        ids,
        y,
        kind="tokens",
        config=config,
        seed=seed,
        source=str(config.path),
        class_names=names,
        vocab_size=len(encoding["vocab"]),
        rows=rows,
        encoding=encoding,
    )


def _check_features(frame: pd.DataFrame, features: list[str], config: DataConfig) -> None:
    """Refuse a feature column that is empty in every row, and one that is numeric but for a few
    cells (a typo or a placeholder such as ``?``: encoding it as categories would turn one
    number into dozens of one-hot columns) unless ``data.categorical`` lists it."""
    import pandas as pd

    for name in features:
        series = frame[name]
        if series.isna().all():
            raise DataError(
                f"data.features: column {name!r} of {config.path} is empty in every row; "
                "leave it out of data.features"
            )
        if name in (config.categorical or ()) or pd.api.types.is_numeric_dtype(series):
            continue
        given = series.dropna()
        numbers = pd.to_numeric(given, errors="coerce")
        bad = given[numbers.isna()]
        if len(bad) and len(bad) <= _NUMERIC_EXCEPTIONS * len(given):
            shown = ", ".join(f"row {i + 2} {v!r}" for i, v in bad.head(3).items())
            raise DataError(
                f"data.features: column {name!r} of {config.path} holds numbers but for "
                f"{len(bad)} cell(s) ({shown}); fix or blank them (a blank cell is filled with "
                f"the training median), or list the column in data.categorical"
            )


def fit_table_encoding(train: pd.DataFrame, *, categorical: Sequence[str] = ()) -> dict[str, Any]:
    """How each column becomes numbers, learnt from the training rows only.

    Numeric columns (not booleans) keep one column, missing values filled with the training
    median; any other column, and every column named in ``categorical``, is categorical: one
    0/1 column per category seen in training.
    """
    import pandas as pd

    columns: list[dict[str, Any]] = []
    feature_names: list[str] = []
    feature_kinds: list[str] = []
    for name in train.columns:
        series = train[name]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and name not in categorical:
            median = series.median()
            fill = 0.0 if pd.isna(median) else float(median)
            columns.append({"name": name, "kind": "numeric", "fill": fill})
            feature_names.append(name)
            feature_kinds.append("numeric")
        else:
            categories = sorted({str(v) for v in series.dropna()})
            if len(categories) > _MANY_CATEGORIES:
                logger.warning(
                    "column %r has %d categories, one feature each; if it holds text, set "
                    "data.text: %s, or leave it out of data.features",
                    name,
                    len(categories),
                    name,
                )
            columns.append({"name": name, "kind": "categorical", "categories": categories})
            feature_names += [f"{name}={c}" for c in categories]
            feature_kinds += ["one_hot"] * len(categories)
    return {
        "type": "table",
        "columns": columns,
        "feature_names": feature_names,
        "feature_kinds": feature_kinds,
    }


def encode_table(frame: Any, encoding: dict[str, Any]) -> np.ndarray:
    """The float32 feature matrix of a DataFrame (or a mapping of columns), as fitted.

    Raises:
        DataError: a column of the encoding is missing.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    absent = [c["name"] for c in encoding["columns"] if c["name"] not in frame.columns]
    if absent:
        raise DataError(f"the input lacks the feature column(s) {', '.join(map(repr, absent))}")
    parts = []
    for column in encoding["columns"]:
        series = frame[column["name"]]
        if column["kind"] == "numeric":
            values = pd.to_numeric(series, errors="coerce").astype(float)
            parts.append(values.fillna(column["fill"]).to_numpy()[:, None])
        else:
            text = series.map(lambda v: None if pd.isna(v) else str(v))
            onehot = [(text == c).to_numpy()[:, None] for c in column["categories"]]
            parts += onehot or [np.zeros((len(frame), 0))]
    return np.concatenate(parts, axis=1).astype(np.float32)
