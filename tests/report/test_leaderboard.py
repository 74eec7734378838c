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
        lines = text.splitlines()
        assert "maximize val_accuracy, minimize n_parameters" in lines[0]
        # a header over two lines (a dotted name's leading parts, then its last one), a row each
        assert lines[1].split() == ["train", "model"]
        header = ["rank", "trial", "state", "val_accuracy", "n_parameters", "pareto", "lr", "act"]
        assert lines[2].split() == header
        assert len(lines) == 3 + 6


def test_leaderboard_unknown_study(multi: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli, ["leaderboard", "--study", "nope", "--storage", multi["storage"]]
    )
    # bad input: issue 11 makes a study that does not exist exit 2 everywhere
    assert result.exit_code == 2
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


def _table(stores: dict[str, str], *args: str, columns: int | None = None) -> object:
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner(env=env).invoke(
        cli,
        [
            "leaderboard",
            *args,
            "--storage",
            stores["storage"],
            "--tracking-uri",
            stores["tracking_uri"],
        ],
    )


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_leaderboard_table_fits_the_terminal(branching: dict[str, str], columns: int) -> None:
    result = _table(branching, "--study", "branching", columns=columns)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # not one line wider than the terminal (COLUMNS), the note on hidden columns included
    assert max(len(line) for line in lines) <= columns
    # the objective and the state are always there; parameter columns that do not fit are
    # left out, and the lines after the 12 rows say how many and how to see them
    assert {"rank", "trial", "state", "objective"} <= set(lines[2].split())
    note = " ".join(lines[3 + 12 :])
    assert "more parameter columns do not fit" in note and "--columns" in note


def test_leaderboard_table_shows_parameters_that_vary(branching: dict[str, str]) -> None:
    # no terminal (piped): no width limit, every parameter that varies, abbreviated headers
    result = _table(branching, "--study", "branching")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # leading parts of long names cut to initials; the last part stays whole
    assert "t.o.adamw" in lines[1] and "t.o.sgd" in lines[1] and "momentum" in lines[2]
    # no validation metrics, durations or run ids by default
    assert "val_loss" not in result.output and "duration" not in result.output
    # a parameter its trial did not sample (the sgd branch under adamw) reads n/a, not None
    assert "None" not in result.output
    assert all("n/a" in line for line in lines[3:])  # every trial took one branch only


def test_leaderboard_columns_choose_and_order(branching: dict[str, str]) -> None:
    result = _table(
        branching,
        *("--study", "branching", "--top", "3"),
        *("--columns", "trial,objective,optimizer,params.train.optimizer.adamw.lr,val_loss"),
        columns=40,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # the columns asked for, in that order ("optimizer": the end of one dotted name), after
    # the rank and state (the trial was named: it keeps its place); columns the user named are
    # shown even when wider than the terminal
    assert lines[2].split() == [
        "rank",
        "state",
        "trial",
        "objective",
        "optimizer",
        "lr",
        "val_loss",
    ]
    assert len(lines) == 3 + 3


def test_leaderboard_unknown_column_lists_the_valid_ones(branching: dict[str, str]) -> None:
    result = _table(branching, "--study", "branching", "--columns", "trial,objectve")
    # one line, exit 2 (bad input): the unknown name, a guess, and every valid name
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "Error: --columns: unknown column 'objectve' (did you mean 'objective'?); valid: rank, "
    )
    assert "params.train.optimizer.sgd.momentum" in errors[0]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_leaderboard_programs_get_full_precision(branching: dict[str, str], fmt: str) -> None:
    import pandas as pd

    from orchestrator.report import leaderboard, load_study_data

    frame = leaderboard(load_study_data("branching", **branching))
    result = _table(branching, "--study", "branching", "--format", fmt, columns=40)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = json.loads(result.output)
    else:
        rows = pd.read_csv(io.StringIO(result.output)).to_dict(orient="records")
    # every column, whatever the terminal's width, and every digit (pandas' own JSON keeps 10)
    assert list(rows[0]) == list(frame.columns)
    exact = frame["params.train.optimizer.sgd.momentum"].dropna().tolist()
    read = [r["params.train.optimizer.sgd.momentum"] for r in rows]
    assert exact == [v for v in read if v == v and v is not None]
    assert any(len(repr(v)) > 12 for v in exact)  # more digits than a rounded value would hold


def test_the_default_table_shows_the_tasks_validation_metrics(real_study: dict[str, str]) -> None:
    stores = {"storage": real_study["storage"], "tracking_uri": real_study["tracking_uri"]}
    result = _table(stores, "--study", "tiny", columns=200)
    assert result.exit_code == 0, result.output
    header = " ".join(result.output.splitlines()[1:3])
    # the objective (val_accuracy), then the task's other summary metrics, abbreviated to fit
    for name in (
        "rank",
        "trial",
        "state",
        "objective",
        "val_balanced_a~",
        "val_f1",
        "val_log_loss",
    ):
        assert name in header, header
    assert "val_accuracy" not in header  # it is the objective column


def test_the_leaderboard_reads_the_study_alone(real_study: dict[str, str]) -> None:
    import subprocess
    import sys

    # every trial kept its best epoch's metrics: MLflow (a second of imports) is not opened
    code = (
        "import sys\n"
        "from orchestrator.cli import cli\n"
        "try:\n"
        f"    cli(['leaderboard', '--study', 'tiny', '--storage', {real_study['storage']!r},\n"
        f"         '--tracking-uri', {real_study['tracking_uri']!r}])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print('mlflow' in sys.modules, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "rank" in done.stdout and "val_f1" in done.stdout
    assert done.stdout.splitlines()[-1] == "False False"


def test_a_pruned_trial_shows_the_metrics_it_kept_without_mlflow() -> None:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from orchestrator.report import StudyData, leaderboard, needs_runs

    study = optuna.create_study(direction="maximize")
    for state, attrs in (
        ("COMPLETE", {"best_metrics": {"val_accuracy": 0.9, "val_loss": 0.3}}),
        ("PRUNED", {"last_metrics": {"val_accuracy": 0.6, "val_loss": 1.2}}),
    ):
        study.add_trial(
            create_trial(
                state=TrialState[state],
                value=0.9 if state == "COMPLETE" else 0.6,
                params={"lr": 0.01},
                distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
                intermediate_values={1: 0.6},
                user_attrs=attrs,
            )
        )
    trials = study.get_trials(deepcopy=False)
    data = StudyData(
        study=study, trials=trials, metrics=["val_accuracy"], directions=["maximize"], n_total=2
    )
    # the pruned trial kept its last epoch's metrics: MLflow need not be read
    assert not needs_runs(data)
    frame = leaderboard(data)
    assert frame.loc[frame["state"] == "PRUNED", "val_loss"].item() == 1.2
    # a pruned trial of an older version kept none: the leaderboard reads its MLflow run
    trials[1].user_attrs.clear()
    assert needs_runs(data)
