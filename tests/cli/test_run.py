"""orchestrator/cli/run.py: `hpo run` and `hpo validate` end to end, on tiny data (2 trials x 1
epoch)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import (
    late_failing_space,
    mlflow_runs,
    run_cli,
    start_long_run,
    study_trials,
    wait_for_running_trial,
)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_logs_parent_and_nested_runs(tiny_space: Path, stores: dict[str, str]) -> None:
    from mlflow import MlflowClient

    result = run_cli(tiny_space, stores)
    assert result.exit_code == 0, result.output
    # a line per trial and a closing summary
    assert result.output.count("COMPLETE") >= 2
    assert "Best trial #" in result.output

    runs = mlflow_runs(stores["tracking_uri"], "tiny")
    parents = [r for r in runs if r.data.tags.get("hpo.role") == "study"]
    trials = [r for r in runs if r.data.tags.get("hpo.role") == "trial"]
    # one parent run per study, one nested run per trial
    assert len(parents) == 1 and len(trials) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert all(t.data.tags["mlflow.parentRunId"] == parent.info.run_id for t in trials)
    # parent: tags, fixed settings as params, test evaluation of the best trial
    assert parent.data.tags["hpo.sampler"] == "random"
    assert parent.data.tags["hpo.storage"] == stores["storage"]
    assert parent.data.params["train.epochs"] == "1"
    assert 0.0 <= parent.data.metrics["test_accuracy"] <= 1.0
    assert "best_val_accuracy" in parent.data.metrics  # the objective, as on the trial runs
    client = MlflowClient(tracking_uri=stores["tracking_uri"])
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"space.yaml", "space_resolved.json", "test_evaluation.json"} <= parent_files
    for run in trials:
        # sampled values under dotted names, the seed, statuses and step metrics
        assert run.info.status == "FINISHED"
        assert run.data.tags["hpo.state"] == "COMPLETE"
        assert "train.optimizer" in run.data.params and "seed" in run.data.params
        assert "model.blocks.0.channels" in run.data.params
        for key in ("train_loss", "val_loss", "val_accuracy", "val_f1", "lr", "epoch_seconds"):
            history = client.get_metric_history(run.info.run_id, key)
            assert [m.step for m in history] == [1], key
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model.pt", "trial_config.json"} <= files


def test_resume_reaches_the_total_budget(tiny_space: Path, stores: dict[str, str]) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "1").exit_code == 0
    # running again with a larger total adds only the remainder
    result = run_cli(tiny_space, stores, "--n-trials", "3")
    assert result.exit_code == 0, result.output
    assert len(study_trials(stores["storage"], "tiny")) == 3
    assert "3/3 trials finished" in result.output
    # and once the budget is reached, running again runs nothing (issue 12: said in one line)
    again = run_cli(tiny_space, stores, "--n-trials", "3")
    assert "has reached its budget: 3/3 trials finished" in again.output
    parents = [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.data.tags["hpo.role"] == "study"
    ]
    assert len(parents) == 1  # resumed runs reuse the study's parent run


def test_interrupt_leaves_nothing_running(
    tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.train as train

    real_fit = train.fit

    def interrupted_fit(*args, **kwargs):
        def boom(epoch, metrics):
            raise KeyboardInterrupt

        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), boom]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", interrupted_fit)
    result = run_cli(tiny_space, stores)
    # Ctrl-C: exit 130, the trial marked, its run KILLED, the parent KILLED
    assert result.exit_code == 130
    trials = study_trials(stores["storage"], "tiny")
    assert trials[0].state.name == "FAIL" and trials[0].user_attrs["fail_kind"] == "interrupted"
    statuses = {
        r.data.tags["hpo.role"]: r.info.status for r in mlflow_runs(stores["tracking_uri"], "tiny")
    }
    assert statuses == {"study": "KILLED", "trial": "KILLED"}

    monkeypatch.setattr(train, "fit", real_fit)
    result = run_cli(tiny_space, stores)
    # the next run resumes: the interrupted configuration runs again and the budget is reached
    assert result.exit_code == 0, result.output
    trials = study_trials(stores["storage"], "tiny")
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params
    assert not [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.info.status == "RUNNING"
    ]


def test_failed_trials_do_not_stop_the_study(workdir: Path, stores: dict[str, str]) -> None:
    space = late_failing_space(workdir, "bad", n_trials=2)
    result = run_cli(space, stores)
    # each trial fails with its reason, the study still finishes its budget
    assert result.exit_code == 0, result.output
    assert result.output.count("FAIL") >= 2
    runs = mlflow_runs(stores["tracking_uri"], "bad")
    trials = [r for r in runs if r.data.tags["hpo.role"] == "trial"]
    assert len(trials) == 2
    assert all(r.info.status == "FAILED" for r in trials)
    assert all("breaks in training" in r.data.tags["hpo.fail_reason"] for r in trials)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "Error: device: 'cuda' is not available"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--timeout", "soon"], "Invalid value for '--timeout'"),
        (["--set", "train.epochs=0"], "train.epochs"),
        (["--set", "train.optimizer.choices.sgd.lrr=0.1"], "did you mean 'lr'"),
    ],
)
def test_bad_input_exits_2(
    tiny_space: Path, stores: dict[str, str], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--space", str(tiny_space), "--storage", stores["storage"], *args],
    )
    # one clear line, exit 2, no traceback
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_validate(tiny_space: Path) -> None:
    result = _invoke("validate", "--space", str(tiny_space))
    assert result.exit_code == 0
    # every parameter with its distribution
    assert "model.blocks.1.channels" in result.output
    assert "train.optimizer.sgd.lr" in result.output


def test_validate_reports_every_problem(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text(
        "model:\n  family: cnnn\ntrain:\n  epochs: {type: int, low: 5, high: 1}\n"
        "  optimizer: {name: adamx}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--space", str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    # three problems, each on its own line with the file and the dotted path
    assert len(lines) >= 3, result.output
    assert any("model.family" in line and "cnnn" in line for line in lines)
    assert any("train.epochs" in line and "low" in line for line in lines)
    assert any("adamx" in line for line in lines)
    assert all(str(bad) in line for line in lines)


def test_missing_space_file(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--space", "nope.yaml"])
    # Click reports the missing file itself, exit 2
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "does not exist" in result.output


def test_sigint_in_a_real_process(tiny_space: Path, stores: dict[str, str]) -> None:
    """A real Ctrl-C (SIGINT) mid-trial: exit 130 and nothing RUNNING in either store."""
    proc = start_long_run(tiny_space, stores)
    try:
        wait_for_running_trial(stores["storage"], "tiny")
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    trials = study_trials(stores["storage"], "tiny")
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert not [
        r for r in mlflow_runs(stores["tracking_uri"], "tiny") if r.info.status == "RUNNING"
    ]


def test_a_study_at_its_budget_says_so_at_once(
    tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "2").exit_code == 0

    def no_set_up(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run with nothing to do must not set up (data, device, MLflow)")

    monkeypatch.setattr("orchestrator.study._preflight._checks", no_set_up)
    result = run_cli(tiny_space, stores, "--n-trials", "2")
    # one line, exit 0, and how to extend the study
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        f"Study 'tiny' has reached its budget: 2/2 trials finished. To run more, raise its "
        f"total: hpo run --space {tiny_space} --n-trials 3"
    ]


def test_the_progress_line_has_elapsed_time_and_an_estimate() -> None:
    from click.testing import CliRunner as Runner

    from orchestrator.cli._output import ProgressPrinter
    from orchestrator.study import EpochEvent, StageEvent, TrialEvent

    def show(live: bool) -> str:
        import click

        @click.command()
        def emit() -> None:
            printer = ProgressPrinter(["val_accuracy"], live=live)
            printer(StageEvent("loading the data"))
            printer(EpochEvent(0, 1, 4, {"val_accuracy": 0.5, "train_loss": 1.0}))
            printer(TrialEvent(0, "COMPLETE", 0.9, 0.9, 0, 2.0, 4, finished=1, n_trials=5))
            printer(EpochEvent(1, 2, 4, {"val_accuracy": 0.7, "train_loss": 0.5}))

        return Runner().invoke(emit).output

    live, piped = show(True), show(False)
    # on a terminal: the stage, then a live line with the elapsed time and the time left
    assert "loading the data ..." in live
    assert "elapsed, ~" in live and "left]" in live
    # piped: no live line, timestamped lines only; the trial line is the same in both
    assert "epoch" not in piped and "\r" not in piped
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d loading the data \.\.\.$", piped, re.M)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    trial = re.compile(stamp + r"trial    0  COMPLETE  val_accuracy=0\.9000")
    assert trial.search(live) and trial.search(piped)


def test_a_study_at_its_budget_still_checks_a_changed_space(
    tiny_space: Path, stores: dict[str, str]
) -> None:
    assert run_cli(tiny_space, stores, "--n-trials", "2").exit_code == 0
    # a changed space is said, as a resume would say it, though nothing is left to run
    changed = run_cli(tiny_space, stores, "--n-trials", "2", "--set", "model.depth.high=3")
    assert changed.exit_code == 2, changed.output
    assert "the search space differs from the one study 'tiny' was created with" in (changed.output)
    # the same space with an override that changes nothing: the command to extend it keeps it
    same = run_cli(tiny_space, stores, "--n-trials", "2", "--set", "train.epochs=1")
    assert same.exit_code == 0, same.output
    assert same.output.strip().endswith(
        f"hpo run --space {tiny_space} --set train.epochs=1 --n-trials 3"
    )
