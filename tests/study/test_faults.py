"""orchestrator/study/_faults.py and the trial's failure classes: an exception of the user's code
fails that trial (its traceback kept), a store fault queues the trial again and repeated ones stop
the run, and only a bug of hpo's stops the run, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import mlflow_runs, run_cli, study_trials

USER_MODULE = """
from torch import nn


class Broken(nn.Module):
    def __init__(self, mode, classes):
        super().__init__()
        self.mode = mode
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, classes))
        self.seen = 0

    def forward(self, x):
        # the checks before the first trial train each new model one step on 4 samples; it
        # breaks once it has seen more, as a model that breaks in training does
        self.seen += x.shape[0]
        if self.seen <= 4:
            return self.net(x)
        if self.mode == "value_error":
            raise ValueError("shapes do not line up")
        if self.mode == "assert":
            assert x.shape[0] > 10**9, "batch too small"
        if self.mode == "train_only" and self.training:
            raise KeyError("only in training")
        return self.net(x)


def build(params, spec):
    return Broken(params["mode"], spec.num_classes)
"""


def _space(workdir: Path, mode: str, n_trials: int = 2) -> Path:
    module = f"user_{workdir.name.replace('-', '_')}"
    (workdir / f"{module}.py").write_text(USER_MODULE)
    space = workdir / "user.yaml"
    space.write_text(
        f"study: {{name: user, n_trials: {n_trials}, seed: 0, sampler: random, pruner: none}}\n"
        f"model: {{family: custom, factory: {module}:build, params: {{mode: {mode}}}}}\n"
        "train: {epochs: 1, batch_size: 128}\n"
    )
    return space


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("value_error", "ValueError: shapes do not line up"),
        ("assert", "AssertionError: batch too small"),
        ("train_only", "KeyError: 'only in training'"),
    ],
)
def test_an_exception_of_the_users_model_fails_the_trial_not_the_study(
    workdir: Path, stores: dict[str, str], mode: str, reason: str
) -> None:
    result = run_cli(_space(workdir, mode), stores, "--max-failures", "5")
    # both trials ran and failed; the study went on and ended normally
    assert result.exit_code == 0, result.output
    trials = study_trials(stores["storage"], "user")
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all(t.user_attrs["fail_kind"] == "error" for t in trials)
    assert all(reason in t.user_attrs["fail_reason"] for t in trials)
    # each trial run is FAILED with a one-line reason, and keeps the full traceback
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stores["tracking_uri"])
    runs = [
        r for r in mlflow_runs(stores["tracking_uri"], "user") if r.data.tags["hpo.role"] == "trial"
    ]
    assert len(runs) == 2 and all(r.info.status == "FAILED" for r in runs)
    for run in runs:
        assert "\n" not in run.data.tags["hpo.fail_reason"]
        assert "traceback.txt" in [a.path for a in client.list_artifacts(run.info.run_id)]
        text = Path(client.download_artifacts(run.info.run_id, "traceback.txt", str(workdir)))
        assert "Traceback" in text.read_text() and reason.split(":")[0] in text.read_text()


def test_a_bug_of_hpo_stops_the_run_in_one_line(
    workdir: Path, tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something hpo got wrong\nsecond line")

    monkeypatch.setattr("orchestrator.study._loop.repair_stale", broken)
    result = run_cli(tiny_space, stores)
    # exit 1, one line naming the error and how to see the traceback, no traceback
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: RuntimeError: something hpo got wrong (a bug in hpo; run with --debug for the "
        "traceback)"
    ]
    assert "Traceback" not in result.output


def test_secrets_in_an_error_are_redacted_with_and_without_debug(
    workdir: Path, tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(*args: object, **kwargs: object) -> None:
        raise ConnectionError("API request to http://hpo:SENTINEL-pw@mlflow.internal:5000 failed")

    monkeypatch.setattr("orchestrator.study._loop.repair_stale", leaky)
    for debug in ([], ["--debug"]):
        args = ["run", "--space", str(tiny_space), "--storage", stores["storage"]]
        result = CliRunner().invoke(cli, [*debug, *args, "--tracking-uri", stores["tracking_uri"]])
        assert result.exit_code == 1
        # the URL is named, its password is not: in the line and in the --debug traceback
        assert "http://hpo:***@mlflow.internal:5000" in result.output
        assert "SENTINEL-pw" not in result.output
        assert ("Traceback" in result.output) == bool(debug)


def test_store_faults_requeue_the_trial_and_stop_the_run(
    workdir: Path, tiny_space: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.tracking import TrialRun

    def read_only(self: object, state: object) -> None:
        raise OSError(30, "Read-only file system", "/srv/mlruns/1/abc/artifacts")

    with monkeypatch.context() as patch:
        patch.setattr(TrialRun, "log_state_dict", read_only)
        result = run_cli(tiny_space, stores, "--n-trials", "5")
    # three store faults in a row stop the run with one line naming the store and the error
    assert result.exit_code == 1, result.output
    assert "stopped after 3 store faults in a row (the last: MLflow: OSError:" in result.output
    trials = [t for t in study_trials(stores["storage"], "tiny") if t.state.name == "FAIL"]
    assert [t.user_attrs.get("fail_kind") for t in trials] == ["store"] * 3
    # none of them is charged to the configuration: every one is queued again, none counted
    assert all(t.user_attrs.get("hpo.requeued") for t in trials)
    assert "0/5 trials finished" in result.output
    # with the store mended, the same command runs the queued configurations and the rest
    again = run_cli(tiny_space, stores, "--n-trials", "5")
    assert again.exit_code == 0, again.output
    done = [t for t in study_trials(stores["storage"], "tiny") if t.state.name == "COMPLETE"]
    assert len(done) == 5
    # the configuration the store failed (queued first, so each retry met the fault again) ran
    assert {t.user_attrs.get("hpo.retry_of", t.number) for t in trials} == {0}
    assert 0 in {t.user_attrs.get("hpo.retry_of") for t in done}


@pytest.mark.parametrize("folder", ["ml", "mlruns"])  # the tracking store; the artifact store
def test_a_store_that_turns_unwritable_mid_run_ends_in_one_line(
    workdir: Path, tiny_space: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    import subprocess

    from orchestrator.tracking import Tracker

    stores = {"storage": str(workdir / "o.journal"), "tracking_uri": f"sqlite:///{workdir}/ml/m.db"}
    locked: list[str] = []
    start_trial = Tracker.start_trial

    def lock_then_start(self: Tracker, *args: object, **kwargs: object) -> object:
        if not locked:  # the folder and all in it (a database and its WAL file; artifacts)
            store = workdir / folder
            # but SQLite's shared-memory index (-shm), which it maps into memory: a write to an
            # immutable mapped page is a SIGBUS that would end the test process, not an error
            files = [f for f in store.rglob("*") if not f.name.endswith("-shm")]
            locked.extend([*map(str, files), str(store)])
            done = subprocess.run(["chattr", "+i", *locked], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
        return start_trial(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Tracker, "start_trial", lock_then_start)
    try:
        result = run_cli(tiny_space, stores, "--n-trials", "5")
    finally:
        subprocess.run(["chattr", "-i", *locked], check=False)
    # exit 1, one error line naming MLflow and the OS error; no traceback, not "a bug in hpo"
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith("Error: stopped after 3 store faults in a row (the last: MLflow: ")
    assert "Traceback" not in result.output and "bug in hpo" not in result.output
    # the study stays consistent: nothing RUNNING, the store faults queued again, none counted
    trials = study_trials(stores["storage"], "tiny")
    states = [(t.state.name, t.user_attrs.get("fail_kind")) for t in trials]
    assert states == [("FAIL", "store")] * 3 + [("WAITING", None)]
    assert "0/5 trials finished" in result.output
