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

Attributions are computed for a sample of the test split (``samples``, drawn with the study
seed); permutation importance uses the whole test split. The pictures and the numbers are
logged as ``explain/`` on the trial's MLflow run, and the study remembers the explanation
(:data:`ATTR_EXPLAIN`) for ``hpo report``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, StudyError
from orchestrator.explain._kinds import DRAWERS, outputs_of, worst_errors
from orchestrator.explain._result import Explanation

if TYPE_CHECKING:
    import numpy as np


__all__ = ["ARTIFACT_DIR", "ATTR_EXPLAIN", "SAMPLES", "Explanation", "explain"]

logger = logging.getLogger(__name__)

ATTR_EXPLAIN = "hpo.explain"  # study user attr: the last explanation's summary
ARTIFACT_DIR = "explain"  # on the explained trial's MLflow run
SAMPLES = 200  # test samples attributed by default: under 60 s for the shipped spaces here


def explain(
    study_name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    trial: int | None = None,
    samples: int = SAMPLES,
    device: str = "cpu",
    log: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Explanation:
    """Explain a study's best trial (or trial ``trial``) on its test split; log ``explain/``
    on its run and remember it in the study when ``log``.

    Raises:
        StudyError: no such study or trial, no completed trial, no MLflow experiment, or a
            trial whose configuration or weights were not kept.
        ConfigError: ``samples`` below 1.
    """
    from orchestrator.data import load_data
    from orchestrator.device import resolve_device
    from orchestrator.study import (
        ATTR_BEST_METRICS,
        ATTR_RUN_ID,
        best_trial,
        load_study,
        objective_names,
        study_seed,
        trained_network,
    )
    from orchestrator.tasks import DIRECTIONS, task_of
    from orchestrator.tracking import Tracker

    started = time.monotonic()
    say = progress or (lambda text: None)
    if samples < 1:
        raise ConfigError(f"--samples {samples}: give at least 1 test sample to attribute")
    study = load_study(study_name, storage=storage)
    chosen = _chosen_trial(study, trial, best_trial)
    tracker = Tracker.open_existing(study_name, tracking_uri=tracking_uri)
    if tracker is None:
        raise StudyError(
            f"study '{study_name}' has no MLflow experiment at this tracking URI; the trials' "
            "weights live there: give the --tracking-uri the study ran with"
        )
    seed = study_seed(study)
    say(f"trial #{chosen.number}: loading its data and weights")
    loaded = trained_network(chosen, tracker=tracker, data=lambda c: load_data(c, seed=seed))
    if loaded is None:
        raise StudyError(
            f"study '{study_name}': trial #{chosen.number} kept no configuration or weights in "
            "MLflow; explain another with --trial N"
        )
    config, splits, model = loaded
    torch_device = resolve_device(device)
    model = model.to(torch_device).eval()
    spec = splits.spec
    task = task_of(spec)
    objective = objective_names(study)[0].removeprefix("val_")
    metric = objective if objective in task.metric_names(spec) else task.default_metric[4:]
    decision = task.decision(chosen.user_attrs.get(ATTR_BEST_METRICS) or {}, prefix="val_")
    result = Explanation(
        study=study_name,
        trial=chosen.number,
        run_id=chosen.user_attrs.get(ATTR_RUN_ID),
        family=config.model.family,
        kind=spec.kind,
        task=spec.task,
        metric=metric,
        samples=0,
    )
    x, y = splits.test
    say(f"predicting the test split ({len(y)} samples)")
    outputs = outputs_of(model, x, device=torch_device)
    outcomes = task.outcomes(outputs, y, spec, decision=decision)
    result.badness = outcomes.badness_words
    result.errors = worst_errors(outcomes, splits)
    pool = _pool(len(y), samples, seed=seed)
    result.samples = len(pool)
    draw = DRAWERS[spec.kind]
    try:
        draw(
            result,
            model,
            splits,
            outcomes,
            pool,
            device=torch_device,
            say=say,
            maximize=DIRECTIONS.get(metric) == "maximize",
            decision=decision,
        )
    except Exception as exc:  # a family Captum cannot differentiate through: the rest stands
        logger.warning("attributions of trial %d failed: %s", chosen.number, exc)
        result.skipped["attributions"] = f"{type(exc).__name__}: {exc}"
    if log and result.run_id:
        say("logging explain/ on the trial's MLflow run")
        _log(tracker, result)
        result.logged = True
    result.seconds = time.monotonic() - started
    if log:
        study.set_user_attr(ATTR_EXPLAIN, result.summary())
    tracker.close()
    return result


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
