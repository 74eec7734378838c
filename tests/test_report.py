"""orchestrator/report.py and `hpo leaderboard` / `hpo report`: ranking, formats, the HTML page.

Ranking and formats run on studies built directly with Optuna (one and two objectives, every
trial state); the report runs end to end on the session's real study (conftest: real_study).
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli

PLOTS = ("history", "importances", "parallel", "slice", "curves")


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- studies built directly with Optuna --------------------------------------------------------


def _make_study(path: Path, name: str, directions: list[str], trials: list[dict]) -> None:
    """A study in a journal file, with the user attrs `hpo run` sets, and the given trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from orchestrator.study import open_storage

    study = optuna.create_study(
        study_name=name, storage=open_storage(str(path)), directions=directions
    )
    metrics = ["val_accuracy", "n_parameters"][: len(directions)]
    study.set_user_attr("hpo.metric", metrics[0])
    study.set_user_attr("hpo.metrics", metrics)
    distributions = {
        "train.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.act": CategoricalDistribution(["relu", "gelu"]),
    }
    for i, spec in enumerate(trials):
        state = TrialState[spec.get("state", "COMPLETE")]
        values = spec.get("values")
        study.add_trial(
            create_trial(
                state=state,
                values=values if state == TrialState.COMPLETE else None,
                value=spec.get("value") if state == TrialState.PRUNED else None,
                params={"train.lr": 10 ** (-1 - 0.4 * i), "model.act": ["relu", "gelu"][i % 2]},
                distributions=distributions,
                intermediate_values=spec.get("intermediate", {}),
                user_attrs={
                    "seed": i,
                    "best_epoch": 1,
                    "best_metrics": {"val_accuracy": (values or [0.5])[0], "val_loss": 0.3},
                    **spec.get("attrs", {}),
                },
            )
        )


@pytest.fixture
def single(workdir: Path) -> dict[str, str]:
    storage = str(workdir / "single.journal")
    _make_study(
        Path(storage),
        "single",
        ["maximize"],
        [
            {"values": [0.90]},
            {"values": [0.95]},
            {"values": [0.80]},
            {"state": "PRUNED", "value": 0.85, "intermediate": {1: 0.85}},
            {"state": "FAIL", "attrs": {"fail_reason": "loss became nan", "fail_kind": "nan"}},
        ],
    )
    # no MLflow store here: the leaderboard works from the Optuna study alone
    return {"storage": storage, "tracking_uri": f"sqlite:///{workdir / 'none.db'}"}


@pytest.fixture
def multi(workdir: Path) -> dict[str, str]:
    storage = str(workdir / "multi.journal")
    _make_study(
        Path(storage),
        "multi",
        ["maximize", "minimize"],
        [
            {"values": [0.90, 100.0]},  # front
            {"values": [0.95, 200.0]},  # front: more accurate, larger
            {"values": [0.80, 300.0]},  # dominated by #5 too: third front
            {"values": [0.90, 100.0]},  # equal to #0: same front
            {"values": [0.70, 400.0]},  # dominated by #2: fourth front
            {"values": [0.85, 150.0]},  # dominated by #0 and #3 only: second front
        ],
    )
    return {"storage": storage, "tracking_uri": f"sqlite:///{workdir / 'none.db'}"}


def test_pareto_ranks_sort_fronts() -> None:
    from orchestrator.report import pareto_ranks

    points = [(0.9, 100), (0.95, 200), (0.8, 300), (0.9, 100), (0.7, 400)]
    # maximize the first, minimize the second: two on the front, a tie, then nested fronts
    assert pareto_ranks(points, ["maximize", "minimize"]) == [1, 1, 2, 1, 3]
    # flipping a direction changes who dominates: now lower accuracy and more weights win
    assert pareto_ranks(points, ["minimize", "maximize"]) == [3, 3, 2, 3, 1]
    assert pareto_ranks([], ["maximize", "minimize"]) == []


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


def test_report_of_a_multi_objective_study(multi: dict[str, str], workdir: Path) -> None:
    from orchestrator.report import build_report

    result = build_report("multi", out=workdir / "multi.html", **multi)
    page = (workdir / "multi.html").read_text()
    # the Pareto front is drawn and listed, and the page says why pruning is off
    assert "pareto" in result.plots and 'data-plot="pareto"' in page
    assert "Pareto-optimal trials" in page
    assert "Pruning is off" in page
    # no MLflow store: no curves, said in the page rather than failing
    assert "curves" in result.skipped and result.logged_run_id is None


# --- a real study, end to end ------------------------------------------------------------------


@pytest.fixture
def real(real_study: dict[str, str]) -> dict[str, str]:
    return real_study


def _pngs(page: str) -> dict[str, bytes]:
    found = re.findall(r'data-plot="(\w+)"[^>]*src="data:image/png;base64,([^"]+)"', page)
    return {name: base64.b64decode(data) for name, data in found}


def test_report_holds_every_plot_and_is_logged(real: dict[str, str]) -> None:
    from mlflow import MlflowClient

    out = Path(real["root"]) / "report.html"
    result = _invoke(
        "report",
        "--study",
        "tiny",
        "--out",
        str(out),
        "--storage",
        real["storage"],
        "--tracking-uri",
        real["tracking_uri"],
    )
    assert result.exit_code == 0, result.output
    assert "Report of study 'tiny'" in result.output and "5 plots" in result.output
    page = out.read_text()
    pngs = _pngs(page)
    # every plot is there, as an inlined PNG
    assert set(PLOTS) <= set(pngs)
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
    # self-contained: nothing is fetched when it opens
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    for section in ("Summary", "Best trial", "Leaderboard", "Failures", "Compute used"):
        assert f"<h2>{section}" in page
    # logged on the study's parent run, with the plots as images
    client = MlflowClient(tracking_uri=real["tracking_uri"])
    run_id = result.output.split("Logged on MLflow run ")[1].split()[0]
    assert client.get_run(run_id).data.tags["hpo.role"] == "study"
    files = {a.path for a in client.list_artifacts(run_id, "report")}
    assert "report/report.html" in files
    plots = {a.path for a in client.list_artifacts(run_id, "report/plots")}
    assert {f"report/plots/{p}.png" for p in PLOTS} <= plots


def test_report_since_keeps_recent_trials(real: dict[str, str]) -> None:
    out = Path(real["root"]) / "morning.html"
    args = ["--storage", real["storage"], "--tracking-uri", real["tracking_uri"], "--no-mlflow"]
    result = _invoke("report", "--study", "tiny", "--since", "12h", "--out", str(out), *args)
    # every trial ran in the last 12 hours
    assert result.exit_code == 0, result.output
    assert "(3 of 3 started in the last 12h00m)" in result.output
    assert "those started in the last 12h00m" in out.read_text()
    # a window with no trial is an error that says how many there are in all
    empty = CliRunner().invoke(cli, ["report", "--study", "tiny", "--since", "1s", *args])
    assert empty.exit_code in (0, 1)
    if empty.exit_code == 1:  # (unless the last trial started less than a second ago)
        assert "has no trials started in the last 1s (3 in all)" in empty.output


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
