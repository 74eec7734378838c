"""The large studies of section 16: a real tiny ``hpo run`` of the digits CNN space (its study,
stored space, MLflow parent run, test evaluation and logged model are hpo's own), grown to
thousands of trials by fake ones that take no training but are written the way a trial writes
itself: the Optuna trial through hpo's storage (the study's journal file, as ``hpo run`` opens
it) with the attributes a trial leaves, and a nested MLflow run per trial through hpo's tracker
(its parameters and seed, an epoch's metrics at a time, its end with the objective, state and
tags). About 80% of the fake trials complete, 14% are pruned and 6% fail."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import CNN_SPACE, ROOT, hpo_command, run_timed, sets_args
from _studies import default_storage, suggested

# the real run that starts the study: 2 trials of 1 epoch, on 1 thread (about 10 s)
START_SETS = ("study.n_trials=2", "train.epochs=1")
EPOCHS = 8  # the fake trials' epochs (cnn.yaml's)
PRUNED, FAILED = 0.14, 0.06  # shares of the fake trials
WORKERS = 2  # the fake trials' worker processes, as the timeline shows them
CHUNK = 500  # fake trials written to Optuna at a time


@dataclass
class LargeStudy:
    """A study in its own directory, with hpo's default storage and tracking there."""

    directory: Path
    name: str
    model_uri: str  # the winner of the real trials, logged as an MLflow model
    start_command: list[str]

    @property
    def storage(self) -> str:
        return default_storage(self.directory)

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.directory / 'mlflow.db'}"


def start_study(directory: Path) -> LargeStudy:
    """A real ``hpo run`` of 2 one-epoch trials in ``directory``: the study the fakes join."""
    from orchestrator.space import load_space
    from orchestrator.study import load_study

    directory.mkdir(parents=True, exist_ok=True)
    space = ROOT / CNN_SPACE
    cmd = [
        *hpo_command(),
        "run",
        "--space",
        str(space),
        *sets_args(START_SETS),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    run_timed(cmd, cwd=directory)
    name = load_space(space).name
    study = load_study(name, storage=default_storage(directory))
    model = (study.user_attrs.get("hpo.model") or {}).get("uri")
    if not model:
        from _harness import BenchError

        raise BenchError(f"`hpo run` in {directory} logged no model (hpo.model on the study)")
    return LargeStudy(directory, name, model, cmd)


def grow(large: LargeStudy, n_total: int, *, seed: int = 0) -> float:
    """Add fake trials to the study until it holds ``n_total``; the seconds it took."""
    import optuna

    from orchestrator.study import load_study, stored_space, study_task
    from orchestrator.tracking import Tracker

    started = time.perf_counter()
    study = load_study(large.name, storage=large.storage)
    first = len(study.get_trials(deepcopy=False))
    if first >= n_total:
        return 0.0
    space = stored_space(study)
    task = study_task(study)
    metric = space.study.primary_metric
    tracker = Tracker(large.name, tracking_uri=large.tracking_uri, source="hpo run")
    tracker.start_parent(large.name, run_id=study.user_attrs.get("hpo.mlflow_parent_run_id"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed + first))
    fakes = FakeTrials(space, task.metrics, seed=seed + first)
    clock = dt.datetime.now() - dt.timedelta(seconds=3.0 * n_total / WORKERS)
    pending: list[tuple[Any, Any]] = []  # (TrialRun, the Optuna trial to write once it has an id)
    best: tuple[float, int, Any] | None = None
    samples = suggested(sampler_study, space)
    for number in range(first, n_total):
        asked, config = next(samples)
        sampler_study.tell(asked, 0.0)  # the sampler's own study: only its parameters are used
        fake = fakes.make(number, dict(asked.params), dict(asked.distributions), clock)
        clock += dt.timedelta(seconds=3.0 / WORKERS)
        run = tracker.start_trial(
            number,
            params={**fake.params, "seed": fake.user_attrs["seed"]},
            tags={"hpo.device": "cpu", "hpo.precision": "32"},
        )
        for epoch, metrics in enumerate(fake.epochs, start=1):
            run.log_epoch(epoch, metrics)
        status, fields = fake.ending(metric)
        run.end(status, **fields)
        fake.system_attrs["config"] = config.to_dict()
        pending.append((run, fake))
        if fake.state == optuna.trial.TrialState.COMPLETE:
            value = fake.value * (1 if space.study.directions[0] == "maximize" else -1)
            if best is None or value > best[0]:
                best = (value, number, fake)
        if len(pending) >= CHUNK:
            _write(study, pending)
    _write(study, pending)
    if best is not None:
        value, number, fake = best
        run_id = fake.user_attrs["mlflow_run_id"]
        tracker.mark_best(
            run_id, trial_number=number, metrics={f"best_{metric}": fake.value}, step=n_total
        )
    tracker.end_parent("FINISHED")
    return time.perf_counter() - started


def _write(study: Any, pending: list[tuple[Any, Any]]) -> None:
    """The fake trials whose runs exist, into the study (numbered as their runs say)."""
    trials = []
    for run, fake in pending:
        if fake.state.name != "FAIL" or fake.user_attrs["epochs_run"]:
            fake.user_attrs["mlflow_run_id"] = run.run_id
        trials.append(fake.frozen())
    study.add_trials(trials)
    pending.clear()


@dataclass
class Fake:
    """One fake trial: what Optuna keeps of it, and the epochs its MLflow run logs."""

    number: int
    state: Any  # optuna.trial.TrialState
    value: float | None
    params: dict[str, Any]
    distributions: dict[str, Any]
    intermediate: dict[int, float]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    start: dt.datetime
    seconds: float
    epochs: list[dict[str, float]]

    def frozen(self) -> Any:
        from optuna.trial import FrozenTrial

        return FrozenTrial(
            number=self.number,
            state=self.state,
            value=self.value,
            datetime_start=self.start,
            datetime_complete=self.start + dt.timedelta(seconds=self.seconds),
            params=self.params,
            distributions=self.distributions,
            user_attrs=self.user_attrs,
            system_attrs=self.system_attrs,
            intermediate_values=self.intermediate,
            trial_id=0,  # given by the storage
        )

    def ending(self, metric: str) -> tuple[str, dict[str, Any]]:
        """:meth:`TrialRun.end`'s status and fields, as ``run_trial`` ends a run."""
        name = self.state.name
        if name == "COMPLETE":
            fields = {
                "tags": {"hpo.best_epoch": self.user_attrs["best_epoch"]},
                "metrics": {
                    f"best_{metric}": self.value,
                    "n_parameters": self.user_attrs["n_parameters"],
                },
            }
            return "FINISHED", {"state": name, **fields}
        if name == "PRUNED":
            epochs = self.user_attrs["epochs_run"]
            return "FINISHED", {"state": name, "tags": {"hpo.pruned_epoch": epochs}}
        tags = {
            "hpo.fail_reason": self.user_attrs["fail_reason"],
            "hpo.fail_kind": self.user_attrs["fail_kind"],
        }
        return "FAILED", {"state": name, "tags": tags}


class FakeTrials:
    """Fake trials of a space whose accuracy depends on their parameters (each numeric one has a
    best place and a weight, drawn once), so that importances, slices and parallel coordinates
    show something, with noise; curves rise over :data:`EPOCHS` epochs."""

    def __init__(self, space: Any, task_metrics: tuple[str, ...], *, seed: int) -> None:
        self.rng = random.Random(seed)
        self.metrics = task_metrics
        self.optimum: dict[str, tuple[float, float]] = {}  # param -> (best place, weight)
        self.space = space

    def _quality(self, params: dict[str, Any], distributions: dict[str, Any]) -> float:
        score = 0.97
        for name, value in params.items():
            place = _place(value, distributions[name])
            if place is None:
                continue
            if name not in self.optimum:
                self.optimum[name] = (self.rng.random(), self.rng.choice((0.02, 0.05, 0.12)))
            best, weight = self.optimum[name]
            score -= weight * (place - best) ** 2
        return max(0.1, min(0.995, score + self.rng.gauss(0.0, 0.01)))

    def make(
        self, number: int, params: dict[str, Any], distributions: dict[str, Any], start: Any
    ) -> Fake:
        from optuna.trial import TrialState

        from orchestrator.numbers import rounded

        rng = self.rng
        final = self._quality(params, distributions)
        draw = rng.random()
        state = (
            TrialState.FAIL
            if draw < FAILED
            else TrialState.PRUNED
            if draw < FAILED + PRUNED
            else TrialState.COMPLETE
        )
        run = EPOCHS if state == TrialState.COMPLETE else rng.randint(1, EPOCHS - 1)
        curve = [final * (1 - math.exp(-(e + 1) / 2.0)) + rng.gauss(0, 0.005) for e in range(run)]
        seconds = rng.uniform(0.15, 0.35)
        epochs = [self._epoch(acc, e, seconds) for e, acc in enumerate(curve)]
        worker = number % WORKERS
        attrs: dict[str, Any] = {"seed": rng.randrange(2**31 - 1), "epochs_run": run}
        system = {"hpo.worker": {"host": "bench", "pid": 4000 + worker, "start": "1"}}
        value, intermediate = None, {e + 1: acc for e, acc in enumerate(curve)}
        if state == TrialState.FAIL:  # its last epoch did not end: reported up to the one before
            attrs["fail_kind"] = "nan"
            attrs["fail_reason"] = (
                f"nan: loss became nan at epoch {run}, batch 3; lower train.optimizer.lr or set "
                "train.grad_clip"
            )
            epochs = epochs[:-1]
            attrs["epochs_run"] = run - 1
            intermediate.pop(run)
        else:
            best_epoch = max(intermediate, key=intermediate.__getitem__)
            value = intermediate[best_epoch] if state == TrialState.COMPLETE else curve[-1]
            attrs["n_parameters"] = rng.randrange(5_000, 200_000)
            if state == TrialState.COMPLETE:
                attrs["best_epoch"] = best_epoch
                attrs["best_metrics"] = rounded(epochs[best_epoch - 1])
            else:  # pruned: the metrics of the epoch it was stopped at
                attrs["last_metrics"] = rounded(epochs[-1])
        return Fake(
            number=number,
            state=state,
            value=value,
            params=params,
            distributions=distributions,
            intermediate=intermediate,
            user_attrs=attrs,
            system_attrs=system,
            start=start,
            seconds=seconds * run,
            epochs=epochs,
        )

    def _epoch(self, accuracy: float, epoch: int, seconds: float) -> dict[str, float]:
        """One epoch's metrics as a trial logs them: the training loss, every validation metric of
        the task, the learning rate and the epoch's seconds."""
        loss = -math.log(max(accuracy, 1e-3)) + 0.05
        metrics = {"train_loss": loss * 0.9}
        for name in self.metrics:
            key = f"val_{name}"
            if "loss" in name:
                metrics[key] = loss
            elif name == "accuracy":
                metrics[key] = accuracy
            else:
                metrics[key] = max(0.0, accuracy - self.rng.uniform(0.0, 0.02))
        metrics["lr"] = 1e-3 * (1 - epoch / EPOCHS)
        metrics["epoch_seconds"] = seconds
        return metrics


def _place(value: Any, distribution: Any) -> float | None:
    """Where a numeric value lies in its range, 0 to 1 (on a log scale where the range is one);
    None for a categorical choice."""
    low, high = getattr(distribution, "low", None), getattr(distribution, "high", None)
    if low is None or high is None or high <= low:
        return None
    if getattr(distribution, "log", False):
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def digits_rows(path: Path, n_rows: int) -> Path:
    """A CSV of ``n_rows`` raw digits (64 pixel values a row, scikit-learn's digits repeated):
    what ``hpo predict`` of the digits model takes."""
    import numpy as np
    from sklearn.datasets import load_digits

    pixels = load_digits().data
    rows = np.resize(pixels, (n_rows, pixels.shape[1]))
    header = ",".join(f"pixel_{i}" for i in range(pixels.shape[1]))
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    return path
