"""An ensemble of a study's best trials: chosen on the predictions the trials kept, scored once on
the test split against the best single trial, logged, registered, and remembered by the study.

The library is the ``top`` best completed trials (by the study's ranking, any model family);
each kept its validation predictions at its best epoch (``val_predictions.npy``), or its
out-of-fold predictions with ``data.cv`` (``oof_predictions.npy``). Caruana's selection
(:mod:`._select`) picks ``size`` of them with replacement for the study's metric; the
probabilities (values, for a regression) are averaged by how often each was picked. Only then
is the test split scored, once, for the ensemble and for the best single trial, with what each
inference costs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.ensemble._select import select
from orchestrator.errors import StudyError

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from orchestrator.data import Splits
    from orchestrator.tracking import LoggedModel

__all__ = ["ATTR_ENSEMBLE", "EnsembleResult", "Member", "build_ensemble"]

logger = logging.getLogger(__name__)

ATTR_ENSEMBLE = "hpo.ensemble"  # study user attr: the last ensemble's summary
ROLE = "ensemble"
INIT = 3  # the best models an ensemble starts with (Caruana's sorted initialisation)
PREDICTIONS = ("oof_predictions.npy", "val_predictions.npy")


@dataclass
class Member:
    """A trial of the library, what it predicted and how often the selection picked it."""

    trial: int
    run_id: str
    value: float  # the trial's objective, as Optuna has it
    picks: int = 0
    weight: float = 0.0


@dataclass
class EnsembleResult:
    study: str
    metric: str
    direction: str
    top: int
    size: int
    members: list[Member]  # the library, best trial first; those picked have weight > 0
    val_score: float  # the ensemble's metric on the rows it was chosen on
    best_val: float  # the best single trial's, on the same rows
    test: dict[str, float] = field(default_factory=dict)  # test_* of the ensemble
    best_test: dict[str, float] = field(default_factory=dict)  # test_* of the best single trial
    ms_per_sample: float = 0.0  # the ensemble's inference, every member, on the test split
    best_ms_per_sample: float = 0.0
    out_of_fold: bool = False
    run_id: str | None = None
    model: LoggedModel | None = None
    seconds: float = 0.0

    @property
    def picked(self) -> list[Member]:
        return [m for m in self.members if m.picks]


def build_ensemble(
    study_name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    top: int = 10,
    size: int = 20,
    device: str = "cpu",
    register: bool = True,
    progress: Callable[[str], None] | None = None,
) -> EnsembleResult:
    """Build, score, log and register the ensemble of a study's ``top`` best trials.

    Raises:
        StudyError: several objectives, an objective that is not a validation metric, no
            MLflow experiment, or no trial that kept its predictions.
    """

    from orchestrator.device import resolve_device
    from orchestrator.study import (
        ATTR_BEST_METRICS,
        ATTR_RUN_ID,
        directions_of,
        load_study,
        objective_names,
        rank_trials,
        study_seed,
    )
    from orchestrator.tracking import Tracker

    started = time.monotonic()
    say = progress or (lambda text: None)
    if top < 1 or size < 1:
        raise StudyError(f"--top and --size must be at least 1, got top={top}, size={size}")
    study = load_study(study_name, storage=storage)
    metrics, directions = objective_names(study), directions_of(study)
    if len(metrics) > 1:
        raise StudyError(
            f"study '{study_name}' has {len(metrics)} objectives; an ensemble is chosen for one"
        )
    metric, direction = metrics[0], directions[0]
    if not metric.startswith("val_"):
        raise StudyError(
            f"study '{study_name}' optimizes {metric}, which is measured of a model, not scored "
            "on predictions; an ensemble is chosen for a validation metric (val_...)"
        )
    tracker = Tracker.open_existing(study_name, tracking_uri=tracking_uri)
    if tracker is None:
        raise StudyError(
            f"study '{study_name}' has no MLflow experiment at this tracking URI; the trials' "
            "predictions live there: give the --tracking-uri the study ran with"
        )
    ranked = [
        t
        for _, t in rank_trials(study.get_trials(deepcopy=False), directions)
        if t.state.name == "COMPLETE" and t.user_attrs.get(ATTR_RUN_ID)
    ][:top]
    if not ranked:
        raise StudyError(f"study '{study_name}' has no completed trial yet; run it first")
    torch_device = resolve_device(device)
    data: dict[str, Splits] = {}
    library: list[tuple[Member, Any, Splits, np.ndarray, dict[str, Any]]] = []
    out_of_fold = None
    with tempfile.TemporaryDirectory() as tmp:
        for trial in ranked:
            loaded = _member(trial, tracker, Path(tmp), data=data, seed=study_seed(study))
            if loaded is None:
                continue
            config, splits, predictions, state, oof = loaded
            if out_of_fold is None:
                out_of_fold = oof
            if oof != out_of_fold:
                continue  # every member must have predicted the same rows
            member = Member(trial.number, trial.user_attrs[ATTR_RUN_ID], float(trial.value))
            library.append((member, config, splits, predictions, state))
            say(f"trial #{trial.number}: predictions of {len(predictions)} rows")
    if not library:
        raise StudyError(
            f"study '{study_name}': none of its best {top} trials kept its validation "
            "predictions (trials run before hpo kept them); run more trials"
        )
    from orchestrator.data import searched_rows
    from orchestrator.tasks import task_of

    first = library[0][2]
    spec = first.spec
    task = task_of(spec)
    y = searched_rows(first)[1] if out_of_fold else first.val[1]
    name = metric.removeprefix("val_")

    def score(predictions: np.ndarray) -> float:
        return float(task.score_predictions(predictions, y, spec)[name])

    def log_loss(predictions: np.ndarray) -> float:
        return float(task.score_predictions(predictions, y, spec)["log_loss"])

    # accuracy over a validation split ties often: the log loss then picks between the tied
    tiebreak = log_loss if name != "log_loss" and "log_loss" in task.metrics else None
    selection = select(
        [p for *_, p, _ in library],
        score,
        maximize=direction == "maximize",
        size=size,
        init=min(INIT, len(library)),
        tiebreak=tiebreak,
    )
    for (member, *_), picks, weight in zip(
        library, selection.counts, selection.weights, strict=True
    ):
        member.picks, member.weight = picks, weight
    result = EnsembleResult(
        study=study_name,
        metric=metric,
        direction=direction,
        top=top,
        size=size,
        members=[m for m, *_ in library],
        val_score=selection.score,
        best_val=score(library[0][3]),
        out_of_fold=bool(out_of_fold),
    )
    say(
        f"selected {len(result.picked)} of {len(library)} trials: {metric}={result.val_score:.4g}"
        f" (best single trial {result.best_val:.4g}), on the "
        f"{'out-of-fold' if out_of_fold else 'validation'} predictions"
    )
    # the test split, once: the ensemble's threshold (a binary task's) chosen on what it was
    # chosen on, the best trial's as it chose it
    ensemble_val = sum(
        member.weight * predictions for member, _, _, predictions, _ in library if member.picks
    )
    decision = task.decision(task.score_predictions(ensemble_val, y, spec))
    test, seconds = _test_predictions(library, device=torch_device, only_picked=True)
    best_test, best_seconds = _test_predictions(library[:1], device=torch_device)
    y_test = first.test[1]
    report = task.score_predictions(test, y_test, spec, details=True, decision=decision)
    best_decision = task.decision(ranked[0].user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_")
    best_report = task.score_predictions(best_test, y_test, spec, decision=best_decision)
    result.test = {f"test_{k}": v for k, v in task.scalars(report).items()}
    result.best_test = {f"test_{k}": v for k, v in task.scalars(best_report).items()}
    result.ms_per_sample = 1000 * seconds / len(y_test)
    result.best_ms_per_sample = 1000 * best_seconds / len(y_test)
    result.run_id, result.model = _log(
        tracker, result, library, report=report, decision=decision, register=register
    )
    result.seconds = time.monotonic() - started
    study.set_user_attr(ATTR_ENSEMBLE, summary(result))
    return result


def _member(
    trial: optuna.trial.FrozenTrial,
    tracker: Any,
    folder: Path,
    *,
    data: dict[str, Splits],
    seed: int,
) -> tuple[Any, Splits, np.ndarray, dict[str, Any], bool] | None:
    """A trial's configuration, its data as its family takes it, its kept predictions, its
    weights, and whether the predictions are out of fold; None when it kept none."""
    import numpy as np
    import torch

    from orchestrator.data import load_data
    from orchestrator.models import adapt_data
    from orchestrator.study import ATTR_RUN_ID, trial_config

    config = trial_config(trial)
    if config is None:
        return None
    run_id = trial.user_attrs[ATTR_RUN_ID]
    where = folder / str(trial.number)
    predictions, oof = None, False
    for name in PREDICTIONS:
        try:
            path = tracker.download(run_id, name, where)
        except Exception:  # not kept: a trial of an earlier hpo
            continue
        predictions, oof = np.load(path).astype(np.float64), name.startswith("oof")
        break
    if predictions is None:
        logger.info("trial %d kept no predictions: left out of the ensemble", trial.number)
        return None
    state = torch.load(tracker.download(run_id, "model.pt", where), weights_only=True)
    key = config.data.model_dump_json()
    if key not in data:
        data[key] = load_data(config.data, seed=seed)
    splits = adapt_data(config.model, data[key], config.data)
    return config, splits, predictions, state, oof


def _test_predictions(
    library: list[Any], *, device: Any, only_picked: bool = False
) -> tuple[np.ndarray, float]:
    """The weighted predictions of the test split (every member's weight; one member alone:
    its own), and the seconds the members' forward passes took."""
    from orchestrator.models import build_model
    from orchestrator.tasks import task_of
    from orchestrator.train import load_saved_state, model_outputs

    total, seconds = None, 0.0
    chosen = [entry for entry in library if entry[0].picks or not only_picked]
    weights = [entry[0].weight if only_picked else 1.0 / len(chosen) for entry in chosen]
    for (_member, config, splits, _, state), weight in zip(chosen, weights, strict=True):
        model = build_model(config.model, splits.spec)
        load_saved_state(model, state)
        model = model.to(device)
        start = time.perf_counter()
        outputs = model_outputs(model, splits.test[0], device=device, prepare=splits.model_input)
        seconds += time.perf_counter() - start
        part = weight * task_of(splits.spec).predictions(outputs, splits.spec)
        total = part if total is None else total + part
    assert total is not None
    return total, seconds


def _log(
    tracker: Any,
    result: EnsembleResult,
    library: list[Any],
    *,
    report: dict[str, Any],
    decision: dict[str, float] | None,
    register: bool,
) -> tuple[str, LoggedModel | None]:
    """The ensemble's MLflow run (under the study's experiment) and its registered model."""
    from orchestrator.data import raw_examples
    from orchestrator.models import ship_format
    from orchestrator.shipped import Bundle
    from orchestrator.shipped import Member as Part
    from orchestrator.tracking import log_hpo_model

    picked = [entry for entry in library if entry[0].picks]
    run = tracker.start_run(
        f"ensemble-top{result.top}",
        role=ROLE,
        params={
            "top": result.top,
            "size": result.size,
            "init": INIT,
            "metric": result.metric,
            "members": json.dumps({m.trial: m.picks for m, *_ in picked}),
            "predictions": "out of fold" if result.out_of_fold else "validation",
        },
        tags={"hpo.members": ",".join(str(m.trial) for m, *_ in picked)},
    )
    metrics = {
        **result.test,
        **{f"best_trial_{k}": v for k, v in result.best_test.items()},
        result.metric: result.val_score,
        f"best_trial_{result.metric}": result.best_val,
        "n_members": float(len(picked)),
        "ms_per_sample": result.ms_per_sample,
    }
    status = "FAILED"
    try:
        tracker.log_dict(run.run_id, summary(result), "ensemble.json")
        tracker.log_dict(
            run.run_id, {"task": picked[0][2].spec.task, **report}, "test_evaluation.json"
        )
        base = picked[0][2].preprocessing
        parts = [
            Part(
                model=config.model.model_dump(mode="json"),
                spec=splits.spec,
                state=state,
                weight=member.weight,
                trial=member.trial,
                preprocessing=None if splits.preprocessing == base else splits.preprocessing,
            )
            for member, config, splits, _, state in picked
        ]
        bundle = Bundle(
            parts,
            base,
            record={
                "study": result.study,
                "kind": "ensemble",
                "task": picked[0][2].spec.task,
                "decision": decision,
                "members": [{"trial": p.trial, "weight": p.weight} for p in parts],
            },
        )
        first_config, first_splits = picked[0][1], picked[0][2]
        example = raw_examples(first_config.data, first_splits)
        requirements = sorted({r for p in parts for r in ship_format(p.model["family"])[1]})
        logged = log_hpo_model(
            tracker,
            run.run_id,
            bundle,
            input_example=example,
            registered_model_name=f"{result.study}-ensemble" if register else None,
            requirements=requirements,
            metadata={"hpo_study": result.study, "hpo_kind": "ensemble"},
        )
        status = "FINISHED"
    finally:
        run.end(status, state="COMPLETE" if status == "FINISHED" else "FAIL", metrics=metrics)
        tracker.close()  # the run's end written before the command says it is done
    return run.run_id, logged


def summary(result: EnsembleResult) -> dict[str, Any]:
    """What the study remembers of its last ensemble (the report shows it)."""
    import datetime as dt

    out = dataclasses.asdict(result)
    out.pop("model")
    out["members"] = [dataclasses.asdict(m) for m in result.picked]
    out["library"] = len(result.members)
    out["at"] = dt.datetime.now().isoformat(timespec="seconds")
    if result.model is not None:
        out["model_uri"] = result.model.model_uri
    return json.loads(json.dumps(out, default=str))
