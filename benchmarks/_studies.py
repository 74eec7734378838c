"""The Optuna studies benchmarks make and read: random configurations sampled and enqueued for
`hpo run`, trials read back, and the `hpo run` studies of sections 4 and 5 run in the background."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import ROOT, Context, hpo_command, run_timed, sets_args, show


def default_storage(directory: Path) -> str:
    """The storage ``hpo run`` uses in ``directory`` when given none (its journal file)."""
    from orchestrator.storage import DEFAULT_STORAGE

    return str(directory / DEFAULT_STORAGE)


def suggested(study: Any, space: Any) -> Iterator[tuple[Any, Any]]:
    """Trials asked of ``study``, each with the configuration of ``space`` it suggests, without
    end; a trial the space refuses is told FAIL and skipped. The caller tells the others."""
    from optuna.trial import TrialState

    from orchestrator.errors import TrialFailure
    from orchestrator.space import suggest

    while True:
        trial = study.ask()
        try:
            config = suggest(space, trial)
        except TrialFailure:
            study.tell(trial, state=TrialState.FAIL)
            continue
        yield trial, config


def sample_configs(space: Any, n: int, *, seed: int) -> list[tuple[dict, dict]]:
    """``n`` random configurations of a space: (Optuna params to enqueue, resolved config)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out: list[tuple[dict, dict]] = []
    for trial, config in itertools.islice(suggested(study, space), n):
        study.tell(trial, 0.0)
        out.append((dict(trial.params), config.to_dict()))
    return out


def enqueue_study(directory: Path, space: Any, params: Sequence[dict]) -> None:
    """Create the space's study in the default storage under ``directory``, configurations queued.

    ``hpo run`` given the same space in that directory resumes the study and runs the queued
    configurations first, in this order (Optuna's ``enqueue_trial``).
    """
    from orchestrator.study import prepare_study  # the study as `hpo run` would make it

    study = prepare_study(space, name=space.name, storage=default_storage(directory))
    for p in params:
        study.enqueue_trial(p)


def load_trials(directory: Path, name: str) -> list[Any]:
    """The trials of study ``name`` in ``directory``'s default storage, by number."""
    from orchestrator.study import load_study

    study = load_study(name, storage=default_storage(directory))
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def same_params(a: dict, b: dict) -> bool:
    """Whether two trials' parameters are the same (floats compared to 1e-9)."""
    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        w = b[k]
        if isinstance(v, float) or isinstance(w, float):
            if not math.isclose(float(v), float(w), rel_tol=1e-9):
                return False
        elif v != w:
            return False
    return True


def run_study_command(ctx: Context, key: str, args: Sequence[str], name: str) -> dict[str, Any]:
    """One `hpo run` in a fresh directory (default storage and tracking); its results."""
    import optuna

    directory = ctx.work / "studies" / key
    directory.mkdir(parents=True)
    cmd = [*hpo_command(), *args]
    wall, _ = run_timed(cmd, cwd=directory)
    from orchestrator.study import get_best  # what `hpo best --json` prints

    best = get_best(name, storage=default_storage(directory))
    trials = load_trials(directory, name)
    test = best.get("test_metrics") or {}
    return {
        "key": key,
        "command": show(cmd, ctx),
        "wall": wall,
        "best_value": best["value"],
        "best_number": best["number"],
        "test_accuracy": test.get("test_accuracy"),
        "epochs": sum(len(t.intermediate_values) for t in trials),
        "states": dict(Counter(t.state.name for t in trials)),
        "n_trials": len([t for t in trials if t.state != optuna.trial.TrialState.WAITING]),
    }


def submit_study(ctx: Context, job: StudyJob) -> Future[dict[str, Any]]:
    """Start a study in the background (``parallel`` at a time); the same command runs once."""
    key = tuple(job.args)
    with ctx.lock:
        if key not in ctx.futures:
            if ctx.pool is None:
                ctx.pool = ThreadPoolExecutor(max_workers=ctx.settings.parallel)
            ctx.futures[key] = ctx.pool.submit(run_study_command, ctx, job.key, job.args, job.name)
        return ctx.futures[key]


@dataclass(frozen=True)
class StudyJob:
    """One `hpo run` of sections 4 and 5, run in the background by :func:`submit_study`."""

    key: str  # its directory under the work directory
    args: list[str]  # hpo's arguments
    name: str  # the study name


def study_job(
    ctx: Context,
    key: str,
    space_path: str,
    *,
    n_trials: int,
    seed: int,
    sampler: str | None = None,
    pruner: str | None = None,
) -> StudyJob:
    """`hpo run` of a shipped space with only the counts, seed, sampler and pruner set."""
    from orchestrator.space import load_space

    sets = [f"study.n_trials={n_trials}", f"study.seed={seed}"]
    if sampler:
        sets.append(f"study.sampler={sampler}")
    if pruner:
        sets.append(f"study.pruner={pruner}")
    if ctx.settings.study_epochs is not None:
        sets.append(f"train.epochs={ctx.settings.study_epochs}")
    args = ["run", "--space", str(ROOT / space_path), *sets_args(sets), "--device", "cpu"]
    return StudyJob(key, args, load_space(ROOT / space_path).name)


def states_text(states: dict[str, int]) -> str:
    """Trial states counted, for a table cell: ``3 complete, 2 pruned``."""
    return ", ".join(f"{n} {k.lower()}" for k, n in sorted(states.items()))
