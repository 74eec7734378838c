"""orchestrator/report/_leaderboard.py and `hpo leaderboard`: ranking and formats."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_leaderboard_ranks_one_objective(single: dict[str, str]) -> None:
    from orchestrator.report import leaderboard, load_study_data

    data = load_study_data("single", **single)
    frame = leaderboard(data)
    # COMPLETE by value (best first), then PRUNED by its last value, then FAIL unranked
    assert frame["trial"].tolist() == [1, 0, 2, 3, 4]
    assert frame["rank"].tolist()[:4] == [1, 2, 3, 4]
    assert frame["rank"].isna().tolist() == [False, False, False, False, True]
    assert frame["state"].tolist() == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    assert frame["objective"].tolist()[:4] == [0.95, 0.90, 0.80, 0.85]
    # the best epoch's validation metrics and the flattened parameters are columns
    assert frame["val_accuracy"].tolist()[:3] == [0.95, 0.90, 0.80]
    assert {"params.train.lr", "params.model.act", "duration_s", "mlflow_run_id"} <= set(frame)
    assert frame.loc[frame["trial"] == 4, "fail_reason"].item() == "loss became nan"
    # --top and --state
    assert leaderboard(data, top=2)["trial"].tolist() == [1, 0]
    assert leaderboard(data, states=["pruned", "FAIL"])["trial"].tolist() == [3, 4]


def test_leaderboard_ranks_pareto_fronts(multi: dict[str, str]) -> None:
    from orchestrator.report import leaderboard, load_study_data

    frame = leaderboard(load_study_data("multi", **multi))
    # rank = Pareto front; within a front, by the first objective (maximized), then number
    assert frame["trial"].tolist() == [1, 0, 3, 5, 2, 4]
    assert frame["rank"].tolist() == [1, 1, 1, 2, 3, 4]
    assert frame["pareto"].tolist() == [True, True, True, False, False, False]
    # one column per objective, named after it; no single "objective" column
    assert frame["objective.val_accuracy"].tolist()[:2] == [0.95, 0.90]
    assert frame["objective.n_parameters"].tolist()[:2] == [200.0, 100.0]
    assert "objective" not in frame


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_leaderboard_formats(multi: dict[str, str], fmt: str) -> None:
    import pandas as pd

    result = _invoke(
        "leaderboard",
        "--study",
        "multi",
        "--format",
        fmt,
        "--storage",
        multi["storage"],
        "--tracking-uri",
        multi["tracking_uri"],
    )
    assert result.exit_code == 0, result.output
    text = result.output
    if fmt == "csv":
        # every column at full precision, one row per trial, in rank order
        frame = pd.read_csv(io.StringIO(text))
        assert frame["trial"].tolist() == [1, 0, 3, 5, 2, 4]
        assert frame["objective.val_accuracy"].iloc[0] == 0.95
    elif fmt == "json":
        rows = json.loads(text)
        assert [r["trial"] for r in rows] == [1, 0, 3, 5, 2, 4]
        assert rows[0]["pareto"] is True and rows[0]["rank"] == 1
        assert rows[0]["params.model.act"] == "gelu"
    elif fmt == "markdown":
        lines = text.strip().splitlines()
        # a header row, a separator, a row per trial; empty columns are dropped
        assert lines[0].startswith("| rank | trial | state | objective.val_accuracy")
        assert set(lines[1]) <= {"|", "-"}
        assert len(lines) == 2 + 6
        assert "fail_reason" not in lines[0]
    else:
        assert "maximize val_accuracy, minimize n_parameters" in text.splitlines()[0]
        assert "pareto" in text.splitlines()[1]
        assert len(text.strip().splitlines()) == 2 + 6


def test_leaderboard_unknown_study(multi: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli, ["leaderboard", "--study", "nope", "--storage", multi["storage"]]
    )
    assert result.exit_code == 1
    assert "Error: no study named 'nope'" in result.output


def test_leaderboard_of_a_real_study(real: dict[str, str]) -> None:
    result = _invoke(
        "leaderboard",
        "--study",
        "tiny",
        "--format",
        "json",
        "--storage",
        real["storage"],
        "--tracking-uri",
        real["tracking_uri"],
    )
    rows = json.loads(result.output)
    # every trial, ranked by validation accuracy, with its MLflow run and metrics
    assert [r["rank"] for r in rows] == [1, 2, 3]
    values = [r["objective"] for r in rows]
    assert values == sorted(values, reverse=True)
    assert all(r["mlflow_run_id"] and 0 <= r["val_f1"] <= 1 for r in rows)
    assert all(r["epochs"] == 1 and r["duration_s"] > 0 for r in rows)
