"""A study as the leaderboard and the report read it back: its trials from Optuna and, where the
study's MLflow experiment exists, what only MLflow has (per-epoch curves, the validation metrics
of the best epoch for trials that did not record them, the test evaluation on the parent run);
and what each trial recorded (its duration, epochs, worker process).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.report._ranking import objective_names

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from orchestrator.tasks import Task
    from orchestrator.tracking import Tracker


logger = logging.getLogger(__name__)

# the validation metrics of classification (studies from before tasks; a study's own: val_metrics)
VAL_METRICS = ("val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1")
PARENT_RUN_ATTR = "hpo.mlflow_parent_run_id"  # the study's MLflow parent run, set by hpo run
TEST_EVALUATION = "test_evaluation.json"  # on the parent run: the best trial on the test split
WORKER_ATTR = "hpo.worker"  # a trial's worker process: {"host", "pid", "start"}
# a study of up to this many trials has every MLflow run read at once (one search page); a larger
# one has a run read when the report needs it (a search of 10,000 runs takes half a minute)
READ_ALL_RUNS = 1_000


@dataclass
class StudyData:
    """A study as the leaderboard and the report read it.

    ``trials`` are those of the time window (all of them without ``since``), every state;
    ``tracker`` is None when the study's MLflow experiment cannot be found.
    """

    study: optuna.Study
    trials: list[FrozenTrial]
    metrics: list[str]
    directions: list[str]
    n_total: int
    task: Task = field(default_factory=lambda: _default_task())
    since: float | None = None
    tracker: Tracker | None = None
    runs: dict[str, Any] = field(default_factory=dict)  # MLflow run id -> Run (trial runs)
    every_run: bool = True  # ``runs`` holds every trial run (else those read so far)
    ui_url: str | None = None  # MLflow's UI the links open (hpo report --ui-url)
    # trial number -> what histories() read for it; filled as trials are asked for
    _histories: dict[int, dict[str, dict[int, float]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _read: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    @property
    def val_metrics(self) -> tuple[str, ...]:
        """The validation metrics each trial logged per epoch: its task's, ``val_loss`` first."""
        return tuple(f"val_{m}" for m in self.task.metrics)

    @property
    def curve_metrics(self) -> tuple[str, ...]:
        """What :meth:`histories` reads of a trial's run: the training loss and every validation
        metric."""
        return ("train_loss", *self.val_metrics)

    def histories(self, trial: FrozenTrial) -> dict[str, dict[int, float]]:
        """The per-epoch metrics of a trial from MLflow (cached), or {} when there are none."""
        if trial.number not in self._histories:
            run_id = trial.user_attrs.get("mlflow_run_id")
            histories: dict[str, dict[int, float]] = {}
            if self.tracker is not None and self.has_run(run_id):
                histories = self.tracker.metric_histories(run_id, self.curve_metrics)
            self._histories[trial.number] = histories
        return self._histories[trial.number]

    def cached_histories(self, trial: FrozenTrial) -> dict[str, dict[int, float]]:
        """The per-epoch metrics :meth:`histories` has already read for a trial, or {}.

        Never asks MLflow: for counts (epochs run) that use the curves when they are at hand but
        are not worth a fetch.
        """
        return self._histories.get(trial.number, {})

    def history(self, trial: FrozenTrial, key: str) -> dict[int, float]:
        """One per-epoch metric of a trial from MLflow, or {}: what :meth:`histories` has read,
        else that metric alone (one request instead of six, for curves of every trial)."""
        if trial.number in self._histories:
            return self._histories[trial.number].get(key, {})
        read = self._read.setdefault("history", {})
        if (trial.number, key) not in read:
            run_id = trial.user_attrs.get("mlflow_run_id")
            found: dict[int, float] = {}
            if self.tracker is not None and self.has_run(run_id):
                found = self.tracker.metric_histories(run_id, [key]).get(key, {})
            read[(trial.number, key)] = found
        return read[(trial.number, key)]

    def has_run(self, run_id: str | None) -> bool:
        """Whether ``run_id`` is a trial run of the study's experiment (a run read when it is
        first asked for, where not every run was read at once)."""
        if run_id is None or self.tracker is None:
            return False
        if run_id not in self.runs and not self.every_run:
            absent = self._read.setdefault("absent", set())
            if run_id not in absent:
                run = _run_of(self.tracker, run_id)
                if run is None:
                    absent.add(run_id)
                else:
                    self.runs[run_id] = run
        return run_id in self.runs

    def devices(self) -> dict[str, int | None]:
        """The devices the trials ran on (their runs' ``hpo.device`` tag), each with its number
        of trials where every run was read, else None."""
        if self.tracker is None:
            return {}
        if not self.every_run:
            return dict.fromkeys(self.tracker.tag_values("hpo.device"))
        found: dict[str, int | None] = {}
        for trial in self.trials:
            run = self.runs.get(trial.user_attrs.get("mlflow_run_id"))
            device = run.data.tags.get("hpo.device") if run is not None else None
            if device:
                found[device] = (found.get(device) or 0) + 1
        return found

    def ui_base(self) -> str | None:
        """The address of MLflow's UI the report links to (see
        :func:`orchestrator.report._links.ui_address`); None without the study's MLflow runs."""
        from orchestrator.report._links import ui_address

        if self.tracker is None:
            return None
        return ui_address(self.tracker.tracking_uri, self.ui_url)

    def ui_served(self) -> bool:
        """Whether that UI runs (the user named it, or it is the tracking server's)."""
        from orchestrator.report._links import is_served

        return bool(self.ui_url) or (
            self.tracker is not None and is_served(self.tracker.tracking_uri)
        )

    def param_order(self) -> list[str]:
        """The searched parameters in the order of the study's space file (conditional ones
        where they are written); [] when the study holds no space hpo can read."""
        if "order" not in self._read:
            from orchestrator.study import stored_space

            try:
                order = [p.name for p in stored_space(self.study).parameters()]
            except Exception:  # a study of another tool or version: first appearance
                order = []
            self._read["order"] = order
        return self._read["order"]

    def param_names(self, trials: Sequence[FrozenTrial] | None = None) -> list[str]:
        """The parameters sampled by ``trials`` (default: every trial), in the space's order."""
        return _param_names(self.trials if trials is None else trials, self.param_order())

    def parent_run_id(self) -> str | None:
        """The study's MLflow parent run (the one ``hpo run`` recorded, else the experiment's
        first run tagged as the study's), or None without MLflow."""
        if "parent" not in self._read:
            self._read["parent"] = None
            if self.tracker is not None:
                recorded = self.study.user_attrs.get(PARENT_RUN_ATTR)
                if recorded is not None and _run_in(self.tracker, recorded):
                    self._read["parent"] = recorded
                else:
                    self._read["parent"] = self.tracker.find_parent_run(self.name)
        return self._read["parent"]

    def test_evaluation(self) -> dict[str, Any] | None:
        """What ``hpo run`` logged on the parent run after evaluating the best trial on the test
        split (``test_evaluation.json``: ``trial``, ``class_names``, ``accuracy``, the macro and
        ``per_class_*`` precision, recall and F1, ``confusion_matrix`` with rows the true class),
        or None when there is none (no test split, no MLflow)."""
        if "test" not in self._read:
            self._read["test"] = None
            parent = self.parent_run_id()
            if parent is not None and self.tracker is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    try:
                        path = self.tracker.download(parent, TEST_EVALUATION, tmp)
                        self._read["test"] = json.loads(Path(path).read_text(encoding="utf-8"))
                    except Exception as exc:  # not logged: no test split, or an older study
                        logger.debug("no %s on run %s: %s", TEST_EVALUATION, parent, exc)
        return self._read["test"]

    def experiment_id(self) -> str | None:
        """The study's MLflow experiment id, or None without MLflow."""
        return None if self.tracker is None else str(self.tracker.experiment_id)


def load_study_data(
    name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    since: float | None = None,
    use_mlflow: bool = True,
) -> StudyData:
    """Read a study (its trials started in the last ``since`` seconds, or all) and its MLflow runs.

    Raises:
        StudyError: no such study.
    """
    from orchestrator.study import load_study, study_task

    study = load_study(name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    n_total = len(trials)
    if since is not None:
        start = dt.datetime.now() - dt.timedelta(seconds=since)
        trials = [t for t in trials if t.datetime_start is not None and t.datetime_start >= start]
    data = StudyData(
        study=study,
        trials=sorted(trials, key=lambda t: t.number),
        metrics=objective_names(study),
        directions=[d.name.lower() for d in study.directions],
        n_total=n_total,
        task=study_task(study),
        since=since,
    )
    if use_mlflow:
        from orchestrator.tracking import Tracker

        data.tracker = Tracker.open_existing(name, tracking_uri=tracking_uri)
        data.every_run = n_total <= READ_ALL_RUNS
        if data.tracker is not None and data.every_run:
            data.runs = data.tracker.runs_by_id()
    return data


def _default_task() -> Task:
    from orchestrator.tasks import DEFAULT_TASK, get_task

    return get_task(DEFAULT_TASK)


def _run_in(tracker: Tracker, run_id: str) -> bool:
    """Whether ``run_id`` is a run of the tracker's experiment."""
    return _run_of(tracker, run_id, role=None) is not None


def _run_of(tracker: Tracker, run_id: str, *, role: str | None = "trial") -> Any:
    """The run ``run_id`` when it is one of the tracker's experiment (with tag ``hpo.role`` =
    ``role``, unless None), else None."""
    try:
        run = tracker.client.get_run(run_id)
    except Exception:
        return None
    if run.info.experiment_id != tracker.experiment_id:
        return None
    return run if role is None or run.data.tags.get("hpo.role") == role else None


def worker_of(trial: FrozenTrial) -> tuple[str, int, str] | None:
    """The worker process that ran a trial, as (host, pid, process start), or None when the trial
    carries no record of it (a user attribute; a system attribute in later versions)."""
    for attrs in (trial.user_attrs, trial.system_attrs):
        worker = attrs.get(WORKER_ATTR)
        if isinstance(worker, dict) and worker.get("pid") is not None:
            return (str(worker.get("host", "?")), int(worker["pid"]), str(worker.get("start")))
    return None


def _duration(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _epochs_run(trial: FrozenTrial, histories: dict[str, dict[int, float]]) -> int | None:
    if "epochs_run" in trial.user_attrs:
        return int(trial.user_attrs["epochs_run"])
    if trial.intermediate_values:
        return len(trial.intermediate_values)
    steps = histories.get("val_loss") or histories.get("train_loss")
    return len(steps) if steps else None


def _val_metrics(data: StudyData, trial: FrozenTrial) -> dict[str, float]:
    """The validation metrics of the trial's best epoch (its last one if it did not complete).

    Recorded on the trial (:func:`recorded_metrics`) by current versions; read from MLflow
    otherwise.
    """
    recorded = recorded_metrics(trial)
    if recorded:
        return {k: float(recorded[k]) for k in data.val_metrics if k in recorded}
    histories = data.histories(trial)
    if not histories:
        return {}
    epoch = trial.user_attrs.get("best_epoch")
    out = {}
    for key in data.val_metrics:
        steps = histories.get(key)
        if steps:
            out[key] = steps.get(epoch, steps[max(steps)]) if epoch else steps[max(steps)]
    return out


def recorded_metrics(trial: FrozenTrial) -> dict[str, Any]:
    """The metrics a trial kept in the study: its best epoch's (``best_metrics``), or a pruned
    trial's at the epoch it was stopped (``last_metrics``); {} when it kept none (a trial of an
    older version, whose metrics only its MLflow run holds, or one that failed)."""
    return trial.user_attrs.get("best_metrics") or trial.user_attrs.get("last_metrics") or {}


def _param_names(trials: Sequence[FrozenTrial], order: Sequence[str] = ()) -> list[str]:
    """Every parameter sampled by any of ``trials``: in ``order`` (the space's, see
    :meth:`StudyData.param_order`), those it does not name after them in order of first
    appearance."""
    names: list[str] = []
    for trial in sorted(trials, key=lambda t: t.number):
        names += [p for p in trial.params if p not in names]
    place = {name: i for i, name in enumerate(order)}
    return sorted(names, key=lambda n: (place.get(n, len(place)), names.index(n)))
