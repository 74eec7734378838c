"""Explaining one trained network of a study on its test split: what it looks at, and where it
is most wrong (what is drawn for each kind of data: :mod:`._kinds`).

The network is the study's best trial (or another, ``trial``), rebuilt with the weights its run
saved, on the study's own splits as its family takes them. What is drawn follows the data:

- features (tables): permutation importance of every original column for the study's metric,
  beside the mean absolute integrated gradients of the same columns;
- images: integrated gradients and Grad-CAM over test images of each class, a right and a wrong
  prediction side by side, and a gallery of the worst errors;
- sequences: integrated gradients over the time steps, drawn behind the signal;
- tokens (texts): layer integrated gradients on the token embedding, as highlighted text, for
  the most confident right and wrong predictions;
- every task: the worst errors as a table (the most confident wrong classes, the largest
  residuals in the target's units).

A table's integrated gradients are averaged over a sample of the test split (``samples``, drawn
with the study seed); permutation importance uses the whole test split; images, sequences and
texts attribute the examples they show, chosen among the whole test split. The pictures and
the numbers are logged as ``explain/`` on the trial's MLflow run, and the study remembers the
explanation (:data:`ATTR_EXPLAIN`) for ``hpo report``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, StudyError
from orchestrator.explain._kinds import DRAWERS, outputs_of, worst_errors
from orchestrator.explain._names import ARTIFACT_DIR, ATTR_EXPLAIN, SAMPLES
from orchestrator.explain._result import Explanation

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import torch

    from orchestrator.data import Splits


__all__ = ["ARTIFACT_DIR", "ATTR_EXPLAIN", "SAMPLES", "Explanation", "explain"]

logger = logging.getLogger(__name__)


@dataclass
class _Subject:
    """The network explained, on the data it takes, and where its explanation is logged."""

    trial: int
    run_id: str | None
    family: str
    splits: Splits
    model: torch.nn.Module
    decision: dict[str, float] | None


def explain(
    study_name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    trial: int | None = None,
    model: str | None = None,
    samples: int = SAMPLES,
    device: str = "cpu",
    log: bool = True,
    progress: Callable[[str], None] | None = None,
    study: optuna.Study | None = None,
) -> Explanation:
    """Explain a study's best trial (or trial ``trial``, or the shipped model ``model``) on the
    study's test split; log ``explain/`` on its MLflow run and remember it in the study when
    ``log``.

    Args:
        model: a model ``hpo retrain`` shipped (``models:/NAME/1``, a run id, a folder) of one
            network: its own weights, on the data of the trial it was retrained from.
        study: the study ``study_name``, when the caller has it loaded (the report).

    Raises:
        StudyError: no such study, no completed trial, no MLflow experiment, or a trial whose
            configuration or weights were not kept.
        ConfigError: no such trial, ``samples`` below 1, or a model that is not one network
            of this study.
    """
    from orchestrator.device import resolve_device
    from orchestrator.study import load_study, objective_names, study_seed
    from orchestrator.tasks import DIRECTIONS, task_of
    from orchestrator.tracking import Tracker

    started = time.monotonic()
    say = progress or (lambda text: None)
    if samples < 1:
        raise ConfigError(f"--samples {samples}: give at least 1 test sample to attribute")
    if trial is not None and model is not None:
        raise ConfigError("--trial and --model both name what to explain; give one of them")
    study = study or load_study(study_name, storage=storage)
    tracker = Tracker.open_existing(study_name, tracking_uri=tracking_uri)
    if tracker is None:
        raise StudyError(
            f"study '{study_name}' has no MLflow experiment at this tracking URI; the trials' "
            "weights live there: give the --tracking-uri the study ran with"
        )
    seed = study_seed(study)
    if model is None:
        subject = _from_trial(study, trial, tracker=tracker, seed=seed, say=say)
    else:
        subject = _from_model(study, model, tracking_uri=tracking_uri, seed=seed, say=say)
    torch_device = resolve_device(device)
    network = subject.model.to(torch_device).eval()
    # the test split as the network takes it (uint8 pixels made float once: it is small)
    x, y = subject.splits.test
    splits = dataclasses.replace(subject.splits, test=(subject.splits.model_input(x), y))
    spec = splits.spec
    task = task_of(spec)
    objective = objective_names(study)[0].removeprefix("val_")
    metric = objective if objective in task.metric_names(spec) else task.default_metric[4:]
    result = Explanation(
        study=study_name,
        trial=subject.trial,
        run_id=subject.run_id,
        family=subject.family,
        kind=spec.kind,
        task=spec.task,
        metric=metric,
        samples=0,
        model=model,
    )
    x = splits.test[0]
    say(f"predicting the test split ({len(y)} samples)")
    outputs = outputs_of(network, x, device=torch_device)
    outcomes = task.outcomes(outputs, y, spec, decision=subject.decision)
    result.badness = outcomes.badness_words
    result.errors = worst_errors(outcomes, splits)
    pool = _pool(len(y), samples, seed=seed)
    result.samples = len(pool)
    try:
        DRAWERS[spec.kind](
            result,
            network,
            splits,
            outcomes,
            pool,
            device=torch_device,
            say=say,
            maximize=DIRECTIONS.get(metric) == "maximize",
            decision=subject.decision,
        )
    except Exception as exc:  # a family Captum cannot differentiate through: the rest stands
        logger.warning("attributions of trial %d failed: %s", subject.trial, exc)
        result.skipped["attributions"] = f"{type(exc).__name__}: {exc}"
    if log and result.run_id:
        say("logging explain/ on the MLflow run")
        _log(tracker, result)
        result.logged = True
    result.seconds = time.monotonic() - started
    if log and model is None:  # the report shows the explanation of a trial
        study.set_user_attr(ATTR_EXPLAIN, result.summary())
    tracker.close()
    return result


def _from_trial(
    study: optuna.Study, number: int | None, *, tracker: Any, seed: int, say: Callable[[str], None]
) -> _Subject:
    """The trial's network with the weights its run saved, on the study's splits."""
    from orchestrator.data import load_data
    from orchestrator.study import ATTR_BEST_METRICS, ATTR_RUN_ID, best_trial, trained_network
    from orchestrator.tasks import task_of

    chosen = _chosen_trial(study, number, best_trial)
    say(f"trial #{chosen.number}: loading its data and weights")
    loaded = trained_network(chosen, tracker=tracker, data=lambda c: load_data(c, seed=seed))
    if loaded is None:
        raise StudyError(
            f"study '{study.study_name}': trial #{chosen.number} kept no configuration or "
            "weights in MLflow; explain another with --trial N"
        )
    config, splits, network = loaded
    decision = task_of(splits.spec).decision(
        chosen.user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_"
    )
    return _Subject(
        chosen.number,
        chosen.user_attrs.get(ATTR_RUN_ID),
        config.model.family,
        splits,
        network,
        decision,
    )


def _from_model(
    study: optuna.Study,
    ref: str,
    *,
    tracking_uri: str | None,
    seed: int,
    say: Callable[[str], None],
) -> _Subject:
    """A shipped network of the study: its own weights, on the splits of the trial it came
    from (their preprocessing must be the model's), logged on the run it was logged on."""
    import tempfile
    from pathlib import Path

    import yaml

    from orchestrator.data import load_data
    from orchestrator.models import adapt_data, parse_model_config
    from orchestrator.predict import load_shipped

    say(f"{ref}: loading the model")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_shipped(ref, tmp, tracking_uri=tracking_uri)
        found = sorted(Path(tmp).rglob("MLmodel"))
        logged = yaml.safe_load(found[0].read_text()) if found else {}
    record = bundle.record
    if len(bundle.members) != 1 or not bundle.members[0].model:
        trials = ", ".join(f"#{m.trial}" for m in bundle.members if m.trial is not None)
        raise ConfigError(
            f"--model {ref}: an ensemble of {len(bundle.members)} networks; explain one of its "
            f"members with --trial N ({trials})"
        )
    if record.get("study") != study.study_name or record.get("trial") is None:
        raise ConfigError(
            f"--model {ref}: shipped from study {record.get('study')!r}, not "
            f"'{study.study_name}'; give --study {record.get('study')}"
        )
    member = bundle.members[0]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    source = trials.get(int(record["trial"]))
    config = _trial_data(source)
    splits = adapt_data(parse_model_config(member.model), load_data(config, seed=seed), config)
    if _comparable(splits.preprocessing) != _comparable(bundle.preprocessing):
        raise ConfigError(
            f"--model {ref}: its preprocessing differs from the study's splits of trial "
            f"#{record['trial']}; explain the trial itself with --trial {record['trial']}"
        )
    return _Subject(
        int(record["trial"]),
        (logged or {}).get("run_id"),
        str(member.model["family"]),
        splits,
        member.module(),
        record.get("decision"),
    )


def _trial_data(trial: Any) -> Any:
    from orchestrator.study import trial_config

    config = trial_config(trial) if trial is not None else None
    if config is None:
        raise ConfigError("--model: the trial it was shipped from kept no configuration")
    return config.data


def _comparable(preprocessing: dict[str, Any]) -> str:
    import json

    return json.dumps(preprocessing, sort_keys=True, default=str)


def _chosen_trial(study: Any, number: int | None, best_trial: Callable[..., Any]) -> Any:
    if number is None:
        chosen = best_trial(study)
        if chosen is None:
            raise StudyError(f"study '{study.study_name}' has no completed trial yet; run it first")
        return chosen
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ConfigError(
            f"--trial {number}: study '{study.study_name}' has no such trial "
            f"(trials 0 to {max(trials, default=-1)}); hpo leaderboard lists them"
        )
    if trials[number].state.name != "COMPLETE":
        raise ConfigError(
            f"--trial {number}: the trial is {trials[number].state.name}, not COMPLETE; explain "
            "a completed trial"
        )
    return trials[number]


def _pool(n: int, samples: int, *, seed: int) -> np.ndarray:
    """``samples`` test rows (all of them, if fewer), drawn with the study seed, in order."""
    import numpy as np

    if samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=samples, replace=False))


def _log(tracker: Any, result: Explanation) -> None:
    import tempfile

    assert result.run_id is not None
    with tempfile.TemporaryDirectory() as tmp:
        result.save(tmp)
        tracker.log_dir(result.run_id, tmp, ARTIFACT_DIR)
