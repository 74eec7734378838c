"""CSV files: a table of features, or a text column, and the target column(s).

Every encoding is fitted on the training rows only: a numeric column's missing values become its
training median and the column is standardised; a categorical column (text, booleans) becomes one
0/1 column per category seen in training, missing or unseen values all zeros. With ``data.text``
the text column alone is the input: tokenised, with a vocabulary from the training rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.data._split import read_target, split_rows
from orchestrator.data._text import encode_texts, fit_text_encoding
from orchestrator.errors import DataError, first_line

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from orchestrator.config import DataConfig
    from orchestrator.tasks import Target

__all__ = [
    "encode_csv",
    "encode_table",
    "fit_table_encoding",
    "identifier_columns",
    "read_labelled",
    "require_path",
    "targets_of",
]

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


def targets_of(config: DataConfig) -> list[str]:
    """``data.target`` as a list of column names (several for a multi-label target)."""
    target = config.target
    return [target] if isinstance(target, str) else list(target or [])


def read_labelled(config: DataConfig, *, warn: bool = True) -> pd.DataFrame:
    """The CSV file of ``data.path``, every column named by a string, cells that are one of the
    missing markers (pandas' own and ``data.missing``) read as missing, and the rows without a
    target left out (with a warning, unless not ``warn``); its ``i``-th row (by position; the
    index keeps the file's row numbers) is row ``i`` of the loader's splits' ``indices``.

    Raises:
        DataError: no such file, one that is not CSV, no such target column, no target at all.
    """
    import pandas as pd

    path = require_path(config)
    try:
        frame = pd.read_csv(path, na_values=list(config.missing), keep_default_na=True)
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
    targets = targets_of(config)
    if not targets:
        raise DataError(
            f"data.target: name the target column of {config.path} (columns: {listing})"
        )
    for target in targets:
        if target not in columns:
            raise DataError(
                f"data.target: no column {target!r} in {config.path} (columns: {listing})"
            )
    source = _target_source(config)
    missing = frame[targets].isna().any(axis=1).to_numpy()
    if missing.all():
        raise DataError(f"{source}: every target is missing")
    if missing.any() and warn:
        logger.warning("%s: %d rows without a target are left out", source, int(missing.sum()))
    if missing.any():
        frame = frame.loc[~missing]  # the index keeps the file's row numbers, for messages
    return frame


def _target_source(config: DataConfig) -> str:
    targets = targets_of(config)
    if len(targets) == 1:
        return f"{config.path}: column {targets[0]!r}"
    return f"{config.path}: columns {', '.join(map(repr, targets))}"


def encode_csv(config: DataConfig, *, seed: int) -> dict[str, Any]:
    """A CSV file parsed and encoded: the arguments of :func:`make_splits`.

    ``data.target`` is what is predicted (a list of 0/1 columns: several labels);
    ``data.features`` (default: every other column, less ``data.exclude`` and the columns that
    identify rows) are encoded as a table, or ``data.text`` makes it a text task.
    """
    import numpy as np

    frame = read_labelled(config)
    columns = list(frame.columns)
    listing = ", ".join(columns)
    targets = targets_of(config)
    source = _target_source(config)
    single = len(targets) == 1
    values = frame[targets[0]].to_numpy() if single else frame[targets].to_numpy()
    target = read_target(
        values, config=config, source=source, names=targets[0] if single else targets
    )
    rows = split_rows(target, config=config, seed=seed, source=source)
    unknown = [c for c in config.exclude or [] if c not in columns]
    if unknown:
        raise DataError(
            f"data.exclude: no column {', '.join(map(repr, unknown))} in {config.path} "
            f"(columns: {listing})"
        )

    if config.text is not None:
        return _text_encoded(frame, target, rows, config=config, seed=seed, listing=listing)

    excluded = set(config.exclude or [])
    identifiers: list[str] = []
    if config.features:
        features = list(config.features)
    else:
        candidates = [c for c in columns if c not in targets and c not in excluded]
        identifiers = identifier_columns(frame, candidates)
        for name in identifiers:
            logger.warning(
                "%s: column %r holds a different value in every row (it identifies rows): left "
                "out of the features; list it in data.features to use it, or in data.exclude",
                config.path,
                name,
            )
        features = [c for c in candidates if c not in identifiers]
    unknown = [c for c in features if c not in columns]
    if unknown:
        raise DataError(
            f"data.features: no column {', '.join(map(repr, unknown))} in {config.path} "
            f"(columns: {listing})"
        )
    both = [c for c in targets if c in features]
    if both:
        raise DataError(f"data.features: the target {both[0]!r} cannot be a feature too")
    if excluded & set(features):
        name = sorted(excluded & set(features))[0]
        raise DataError(
            f"data.features: {name!r} is listed in data.exclude too; keep it in one of them"
        )
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
    encoding["identifiers"] = identifiers + [c for c in config.exclude or [] if c in columns]
    x = encode_table(frame, encoding)
    standardize = np.array([kind == "numeric" for kind in encoding["feature_kinds"]], dtype=bool)
    return dict(
        x=x,
        y=None,
        kind="features",
        config=config,
        seed=seed,
        source=str(config.path),
        rows=rows,
        standardize=standardize,
        encoding=encoding,
        target=target,
        target_name=targets[0] if single else targets,
    )


# a column of numbers with one of these names is an identifier when every row holds another
_ID_NAME = re.compile(r"(?i)^(id|index|key|row|row_?id|.*[_ ]id|.*Id|.*ID)$")


def identifier_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns that identify rows rather than describe them: pandas' unnamed index
    (``Unnamed: 0``), text that is different in every row (names of cars, people), and whole
    numbers that are different in every row and count rows or are named as an id (``id``,
    ``customer_id``). A number that merely differs in every row (a price) is kept."""
    import pandas as pd

    found = []
    n = len(frame)
    for name in columns:
        series = frame[name]
        if re.fullmatch(r"Unnamed: \d+", name):
            found.append(name)
            continue
        if n < 10 or series.isna().any() or series.nunique() != n:
            continue
        if pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_integer_dtype(series):
            counts_rows = int(series.max()) - int(series.min()) + 1 == n
            if counts_rows or _ID_NAME.match(name):
                found.append(name)
        elif not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            if numbers.isna().any():  # text, not numbers written as text
                found.append(name)
    return found


def _text_encoded(
    frame: pd.DataFrame,
    target: Target,
    rows: dict[str, np.ndarray],
    *,
    config: DataConfig,
    seed: int,
    listing: str,
) -> dict[str, Any]:
    column = config.text
    assert column is not None
    if column not in frame.columns:
        raise DataError(f"data.text: no column {column!r} in {config.path} (columns: {listing})")
    if column in targets_of(config):
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
    targets = targets_of(config)
    return dict(
        x=ids,
        y=None,
        kind="tokens",
        config=config,
        seed=seed,
        source=str(config.path),
        vocab_size=len(encoding["vocab"]),
        rows=rows,
        encoding=encoding,
        target=target,
        target_name=targets[0] if len(targets) == 1 else targets,
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
                f"the training median), add the marker to data.missing, or list the column in "
                f"data.categorical"
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
