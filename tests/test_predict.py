"""orchestrator/predict.py and `hpo predict`: the shipped model on raw digits, as .npy and CSV.

The model is the one `hpo retrain` registered for the session's real study (conftest: retrained).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    """The raw pixels (0-16) and labels of the study's test split (data seed 0, as the study)."""
    from sklearn.datasets import load_digits

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data

    rows = load_data(DataConfig(name="digits"), seed=0).indices["test"]
    bunch = load_digits()
    return {
        "images": bunch.images[rows],
        "labels": bunch.target[rows],
        "names": bunch.feature_names,
    }


def _predict(retrained: dict[str, str], *args: str) -> object:
    return CliRunner().invoke(
        cli, ["predict", *args, "--tracking-uri", retrained["tracking_uri"]], catch_exceptions=False
    )


def _shipped_test_accuracy(retrained: dict[str, str]) -> float:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=retrained["tracking_uri"])
    run_id = client.get_model_version("tiny", "1").run_id
    return client.get_run(run_id).data.metrics["test_accuracy"]


def test_predict_round_trips_on_digits(
    retrained: dict[str, str], digits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import pandas as pd

    np.save(tmp_path / "test.npy", digits["images"])  # raw (N, 8, 8) pixels
    out = tmp_path / "predictions.csv"
    result = _predict(
        retrained,
        "--model",
        "models:/tiny/1",
        "--input",
        str(tmp_path / "test.npy"),
        "--out",
        str(out),
        "--proba",
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote {len(digits['labels'])} predictions" in result.output
    table = pd.read_csv(out)
    # a row per sample: the class in a column named after the target, and with --proba every
    # class's probability
    assert list(table.columns) == ["row", "digit", *(f"proba_{i}" for i in range(10))]
    probs = table[[f"proba_{i}" for i in range(10)]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (probs.argmax(axis=1) == table["digit"]).all()
    # the stored preprocessing turns raw pixels into exactly what the model was tested on:
    # the accuracy on the raw test split is the one retrain measured for this model
    accuracy = (table["digit"].to_numpy() == digits["labels"]).mean()
    assert accuracy == pytest.approx(_shipped_test_accuracy(retrained), abs=1e-9)


def test_predict_csv_matches_npy(
    retrained: dict[str, str], digits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import pandas as pd

    flat = digits["images"].reshape(len(digits["images"]), 64)
    pd.DataFrame(flat, columns=digits["names"]).to_csv(tmp_path / "header.csv", index=False)
    pd.DataFrame(flat).to_csv(tmp_path / "plain.csv", index=False, header=False)
    np.save(tmp_path / "flat.npy", flat)
    predicted = {}
    for name in ("header.csv", "plain.csv", "flat.npy"):
        out = tmp_path / f"{name}.out.csv"
        result = _predict(
            retrained,
            "--model",
            "models:/tiny/latest",
            "--input",
            str(tmp_path / name),
            "--out",
            str(out),
        )
        assert result.exit_code == 0, result.output
        predicted[name] = pd.read_csv(out)["digit"].tolist()
    # a header line is recognised; every form gives the same predictions
    assert predicted["header.csv"] == predicted["plain.csv"] == predicted["flat.npy"]


def test_predict_with_a_run_id(
    retrained: dict[str, str], digits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    run_id = MlflowClient(tracking_uri=retrained["tracking_uri"]).get_model_version("tiny", "1")
    np.save(tmp_path / "five.npy", digits["images"][:5])
    result = _predict(
        retrained,
        "--model",
        run_id.run_id,
        "--input",
        str(tmp_path / "five.npy"),
        "--out",
        str(tmp_path / "five.csv"),
    )
    # a bare run id means the model logged on that run
    assert result.exit_code == 0, result.output
    assert "Wrote 5 predictions" in result.output


def _bad_csv_columns(path: Path) -> None:
    header = ",".join([f"pixel_{i}" for i in range(64)] + ["target"])
    path.write_text(header + "\n" + ",".join(["0"] * 64 + ["3"]) + "\n")


def _bad_csv_value(path: Path) -> None:
    rows = [",".join(["1"] * 64)] * 2 + [",".join(["1", "1", "x"] + ["1"] * 61)]
    path.write_text(",".join(f"pixel_{i}" for i in range(64)) + "\n" + "\n".join(rows) + "\n")


def _bad_npy_shape(path: Path) -> None:
    np.save(path, np.zeros((5, 32)))


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "extra.csv",
            _bad_csv_columns,
            "expected 64 numeric columns, one per value of a 1x8x8 sample, got 65 (columns "
            "pixel_0, pixel_1, pixel_2, ..., pixel_62, pixel_63, target); remove label or id "
            "columns",
        ),
        (
            "text.csv",
            _bad_csv_value,
            "line 4, pixel_2: 'x' is not a number; every value must be numeric",
        ),
        (
            "half.npy",
            _bad_npy_shape,
            "expected samples of 64 values each (shape 1x8x8, or flattened), got an array of "
            "shape (5, 32)",
        ),
        (
            "data.json",
            lambda p: p.write_text("{}"),
            "unknown input format .json; give a .csv, .npy or .npz",
        ),
    ],
)
def test_predict_refuses_input_that_does_not_fit(
    retrained: dict[str, str], tmp_path: Path, name: str, make: object, message: str
) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    result = _predict(retrained, "--model", "models:/tiny/1", "--input", str(path))
    # bad input: exit 2 and one line that says what was expected and what came
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path}: {message}"


def test_predict_unknown_model_version(retrained: dict[str, str], tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64)))
    result = _predict(retrained, "--model", "models:/tiny/99", "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 2
    assert result.output.startswith("Error: --model models:/tiny/99: cannot load it from MLflow")


def test_a_model_folder_predicts_without_importing_mlflow(
    retrained: dict[str, str], digits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from orchestrator.tracking import download_model

    folder = str(
        download_model("models:/tiny/1", tmp_path / "model", tracking_uri=retrained["tracking_uri"])
    )
    np.save(tmp_path / "digits.npy", digits["images"])
    script = (
        "import sys\n"
        "from orchestrator.predict import predict\n"
        f"predict({folder!r}, {str(tmp_path / 'digits.npy')!r}, out={str(tmp_path / 'p.csv')!r})\n"
        "print('mlflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    # a folder on disk is read as it is: MLflow (a second of imports) is not needed
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert len((tmp_path / "p.csv").read_text().splitlines()) == len(digits["images"]) + 1
