"""Retrain the winners of a study on train+val with several seeds, test them, ship the first.

For each of the best ``top`` configurations (the study's own ranking, :func:`rank_trials`: by value,
or by Pareto front with several objectives), :func:`retrain` trains the model afresh on the train
and validation splits together, once per seed, for the number of epochs that gave the trial its
best validation score (there is no validation data left to stop on), and evaluates the last
weights on the held-out test split: accuracy, macro and per-class precision, recall and F1, and
the confusion matrix, summarised as mean and standard deviation over the seeds. The splits and
their preprocessing are the study's own (seeded by the study seed).

What is shipped is the first seed's model of the best-ranked configuration, chosen by validation
as in the search: never by test score, so that the test numbers stay an unbiased estimate. It is
logged with ``mlflow.pytorch.log_model`` (pt2 format, an input example, pinned requirements) and
registered under the study's name, with ``preprocessing.json`` (normalisation, input shape, class
names) inside the model's folder and beside it on the run, for ``hpo predict``.

The MLflow runs of each configuration and seed are :mod:`._seeds`'s; the study keeps a summary in
its user attribute ``hpo.retrain`` (the report shows it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.errors import StudyError
from orchestrator.retrain._seeds import retrain_config
from orchestrator.retrain._ship import ship_model
from orchestrator.retrain._summary import (
    ATTR_RETRAIN,
    ConfigResult,
    RetrainResult,
    SeedEvent,
    SeedResult,
    retrain_seeds,
    study_summary,
)
from orchestrator.study import ATTR_CONFIG, study_seed, trial_attr, trial_config

if TYPE_CHECKING:
    import optuna
    import torch

    from orchestrator.data import Splits

__all__ = ["retrain"]

logger = logging.getLogger(__name__)


def retrain(
    study_name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    top: int = 1,
    seeds: int = 3,
    epochs: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    register: bool = True,
    progress: Callable[[SeedEvent], None] | None = None,
) -> RetrainResult:
    """Retrain the best ``top`` configurations of a study with ``seeds`` seeds each, test them,
    and log and register the model of the best-ranked one.

    Args:
        study_name: the study.
        storage: Optuna storage URL or path; default HPO_STORAGE, else the default journal.
        tracking_uri: MLflow tracking URI; default MLflow's own.
        top: how many configurations, best first.
        seeds: seeds per configuration (the trial's own seed, then the next integers).
        epochs: epochs per seed; default each trial's best epoch (its configured epochs if unknown).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: CPU threads for torch; None leaves torch's default.
        register: register the shipped model under the study's name (it is logged either way).
        progress: called after every seed.

    Raises:
        StudyError: no such study, no completed trial with a stored configuration, or every seed
            of every configuration failed.
    """
    import torch

    from orchestrator.device import resolve_device
    from orchestrator.report import objective_names, rank_trials
    from orchestrator.study import load_study
    from orchestrator.tracking import Tracker

    started = time.monotonic()
    if top < 1 or seeds < 1:
        raise StudyError(f"--top and --seeds must be at least 1, got top={top}, seeds={seeds}")
    study = load_study(study_name, storage=storage)
    directions = [d.name.lower() for d in study.directions]
    ranked = [
        (rank, t)
        for rank, t in rank_trials(study.get_trials(deepcopy=False), directions)
        if t.state.name == "COMPLETE" and trial_attr(t, ATTR_CONFIG)
    ][:top]
    if not ranked:
        raise StudyError(
            f"study '{study_name}' has no completed trial with a stored configuration; "
            "run it first: hpo run --space FILE"
        )
    if threads:
        torch.set_num_threads(threads)
    torch_device = resolve_device(device)
    seed_of_study = study_seed(study)
    tracker = Tracker(study_name, tracking_uri=tracking_uri)
    total = len(ranked) * seeds
    data_cache: dict[str, Splits] = {}
    configs: list[ConfigResult] = []
    shipped: tuple[int, SeedResult, torch.nn.Module, Splits] | None = None
    for rank, trial in ranked:
        splits = _splits(trial, seed_of_study, data_cache)
        result, first_model = retrain_config(
            tracker,
            trial,
            rank=rank,
            splits=splits,
            seeds=retrain_seeds(int(trial.user_attrs.get("seed", seed_of_study)), seeds),
            epochs=epochs,
            device=torch_device,
            metrics=objective_names(study),
            progress=progress,
            done=len(configs) * seeds,
            total=total,
        )
        configs.append(result)
        if shipped is None and first_model is not None:
            first = next(s for s in result.seeds if s.failure is None)
            shipped = (trial.number, first, first_model, splits)
    if shipped is None:
        raise StudyError(
            f"study '{study_name}': every seed of every configuration failed to retrain "
            "(see the reasons above); nothing was shipped"
        )
    number, seed_result, model, ship_splits = shipped
    shipped_config = trial_attr(next(t for _, t in ranked if t.number == number), ATTR_CONFIG)
    logged = ship_model(
        tracker,
        study_name,
        model,
        ship_splits,
        trial=number,
        seed_result=seed_result,
        config=next(c for c in configs if c.trial == number),
        data=shipped_config["data"],
        model_config=shipped_config["model"],
        register=register,
    )
    result = RetrainResult(
        study=study_name,
        configs=configs,
        class_names=list(ship_splits.spec.class_names),
        sizes={
            "train": len(ship_splits.train[1]),  # train+val, joined
            "test": len(ship_splits.test[1]),
        },
        model=logged,
        shipped_trial=number,
        shipped_seed=seed_result.seed,
        seconds=time.monotonic() - started,
        task=ship_splits.spec.task,
    )
    study.set_user_attr(ATTR_RETRAIN, study_summary(result))
    return result


def _splits(trial: optuna.trial.FrozenTrial, seed: int, cache: dict[str, Splits]) -> Splits:
    """The study's splits of a trial's configuration, as its model family takes them (a
    pretrained model's own tokenisation), with train and val joined into one training set (val
    left as is)."""
    import torch

    from orchestrator.data import load_data
    from orchestrator.models import adapt_data

    config = trial_config(trial)
    assert config is not None  # retrain ranks only trials that recorded one
    data, model = config.data, config.model
    loaded = data.model_dump_json()
    if loaded not in cache:
        cache[loaded] = load_data(data, seed=seed)
    key = json.dumps([loaded, model.model_dump(mode="json")], sort_keys=True)
    if key not in cache:
        splits = adapt_data(model, cache[loaded], data)
        x = torch.cat([splits.train[0], splits.val[0]])
        y = torch.cat([splits.train[1], splits.val[1]])
        cache[key] = dataclasses.replace(splits, train=(x, y), val=(x, y))
    return cache[key]
