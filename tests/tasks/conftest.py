"""Small tables of each task, written as users have them: an unnamed index column (pandas'
``Unnamed: 0``), a name that is different in every row, missing cells written ``?`` and ``n/a``,
a categorical column; and one real study of each task per session, read by the tests that need a
finished study (retrain, predict, report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SPACE = """\
study: {{name: {name}, n_trials: 3, seed: 0, sampler: random, pruner: none}}
data: {{name: csv, path: {path}, target: {target}, val_fraction: 0.2, test_fraction: 0.2{extra}}}
model:
  family: mlp
  depth: 1
  layers: {{width: {{type: int, low: 16, high: 32}}}}
train:
  epochs: 4
  batch_size: 32
  optimizer: {{name: adam, lr: {{type: float, low: 3.0e-3, high: 1.0e-2, log: true}}}}
"""


def write_table(path: Path, task: str, *, rows: int = 160, seed: int = 0) -> Path:
    """A CSV whose target follows from its features: ``price`` (regression), ``churned``
    (binary, yes/no, about a third yes), ``tags`` as three 0/1 columns ``a``, ``b``, ``c``
    (multilabel); with an index column, a name per row, missing cells and a colour."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    colour = rng.choice(["red", "green", "blue"], size=rows)
    frame = pd.DataFrame(
        {
            "name": [f"car {i:03d}" for i in range(rows)],
            "x1": x[:, 0].round(3),
            "x2": x[:, 1].round(3),
            "x3": x[:, 2].round(3),
            "colour": colour,
        }
    )
    shift = np.where(colour == "red", 1.0, 0.0)
    if task == "regression":
        frame["price"] = (200 + 40 * x[:, 0] - 25 * x[:, 1] + 30 * shift).round(1)
    elif task == "binary":
        score = 1.5 * x[:, 0] - x[:, 1] + shift - 0.8
        frame["churned"] = np.where(score > 0, "yes", "no")
    elif task == "multilabel":
        frame["a"] = (x[:, 0] > 0).astype(int)
        frame["b"] = (x[:, 1] + shift > 0.5).astype(int)
        frame["c"] = ((x[:, 0] + x[:, 2]) > 0).astype(int)
    text = frame.astype(object)
    text.loc[3, "x1"] = "?"  # missing markers, read as missing
    text.loc[7, "x2"] = "n/a"
    text.to_csv(path)  # with pandas' unnamed index column
    return path


TARGETS = {"regression": "price", "binary": "churned", "multilabel": "[a, b, c]"}


def write_space(folder: Path, task: str, *, extra: str = "") -> Path:
    table = write_table(folder / f"{task}.csv", task)
    space = folder / f"{task}.yaml"
    space.write_text(
        SPACE.format(name=f"tiny-{task}", path=table.name, target=TARGETS[task], extra=extra)
    )
    return space


def invoke(root: Path, *args: str) -> str:
    """An hpo command in ``root``, which must exit 0; its output."""
    from click.testing import CliRunner

    from orchestrator.cli import cli

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI", "HPO_DEVICE"):
            mp.delenv(var, raising=False)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session", params=["regression", "binary", "multilabel"])
def task_study(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A study of each task, run (3 trials), resumed to 4, then retrained (2 seeds): its folder,
    stores and the outputs of each command."""
    task = request.param
    root = tmp_path_factory.mktemp(f"task_{task}")
    write_space(root, task)
    stores = ("--storage", str(root / "optuna.journal"), "--tracking-uri", f"sqlite:///{root}/m.db")
    ran = invoke(root, "run", "--space", f"{task}.yaml", "--threads", "1", *stores)
    resumed = invoke(
        root, "run", "--space", f"{task}.yaml", "--n-trials", "4", "--threads", "1", *stores
    )
    retrained = invoke(
        root, "retrain", "--study", f"tiny-{task}", "--seeds", "2", "--threads", "1", *stores
    )
    return {
        "task": task,
        "root": root,
        "name": f"tiny-{task}",
        "stores": stores,
        "storage": str(root / "optuna.journal"),
        "tracking_uri": f"sqlite:///{root}/m.db",
        "ran": ran,
        "resumed": resumed,
        "retrained": retrained,
    }
