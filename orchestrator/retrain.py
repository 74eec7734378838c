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

MLflow, in the study's experiment: a run per configuration (``retrain-t0003``, ``hpo.role=retrain``)
with the mean and std of the test metrics and ``retrain_evaluation.json``; nested under it a run
per seed (``retrain-t0003-s23774``, ``hpo.role=retrain_seed``) with the per-epoch training
metrics, its test metrics and ``test_evaluation.json``. The study keeps a summary in its user
attribute ``hpo.retrain`` (the report shows it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StudyError, TrialFailure

if TYPE_CHECKING:
    import optuna
    import torch

    from orchestrator.data import Splits
    from orchestrator.tracking import LoggedModel, Tracker

__all__ = [
    "ATTR_RETRAIN",
    "ConfigResult",
    "RetrainResult",
    "SeedEvent",
    "SeedResult",
    "retrain",
    "retrain_seeds",
    "summarize",
]

logger = logging.getLogger(__name__)

ATTR_RETRAIN = "hpo.retrain"  # study user attr: the last retraining's summary
ROLE_CONFIG = "retrain"
ROLE_SEED = "retrain_seed"
SCALAR_METRICS = ("loss", "accuracy", "precision", "recall", "f1")
PER_CLASS = ("per_class_precision", "per_class_recall", "per_class_f1")
INPUT_EXAMPLE_ROWS = 5  # > 1, so that the exported model keeps a dynamic batch dimension
PREPROCESSING_FILE = "preprocessing.json"


@dataclass(frozen=True)
class SeedEvent:
    """One seed retrained and tested, for a progress line."""

    trial: int
    seed: int
    index: int  # 1-based, over every configuration and seed
    total: int
    metrics: dict[str, float]  # test_* of this seed; empty when it failed
    seconds: float
    failure: str | None = None


@dataclass
class SeedResult:
    seed: int
    run_id: str
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # test_loss, test_accuracy, ...
    evaluation: dict[str, Any] = field(default_factory=dict)  # train.evaluate's whole report
    failure: str | None = None


@dataclass
class ConfigResult:
    """One configuration retrained with every seed."""

    trial: int
    rank: int | None
    params: dict[str, Any]
    epochs: int
    run_id: str
    seeds: list[SeedResult]
    summary: dict[str, Any] = field(default_factory=dict)  # see summarize()

    @property
    def mean(self) -> dict[str, float]:
        return self.summary.get("mean", {})

    @property
    def std(self) -> dict[str, float]:
        return self.summary.get("std", {})


@dataclass
class RetrainResult:
    study: str
    configs: list[ConfigResult]
    class_names: list[str]
    sizes: dict[str, int]  # rows trained on (train+val) and tested on
    model: LoggedModel | None
    shipped_trial: int | None = None
    shipped_seed: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def retrain_seeds(base: int, n: int) -> list[int]:
    """The seeds of a retraining: the trial's own seed first, then the next ``n - 1`` integers."""
    return [base + i for i in range(n)]


def summarize(evaluations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of :func:`orchestrator.train.evaluate` reports.

    Returns:
        ``mean``/``std``: ``test_<metric>`` for loss, accuracy and the macro precision, recall and
        F1; ``per_class``: ``{precision|recall|f1: {"mean": [...], "std": [...]}}``;
        ``confusion_matrix``: summed over seeds (rows: true class, columns: predicted);
        ``n``: the number of seeds. The std is the sample standard deviation (0 for one seed).
    """

    def spread(values: list[float]) -> tuple[float, float]:
        mean = statistics.fmean(values)
        return mean, statistics.stdev(values) if len(values) > 1 else 0.0

    if not evaluations:
        return {}
    mean, std = {}, {}
    for key in SCALAR_METRICS:
        mean[f"test_{key}"], std[f"test_{key}"] = spread([float(e[key]) for e in evaluations])
    per_class = {}
    for key in PER_CLASS:
        columns = list(zip(*(e[key] for e in evaluations), strict=True))
        pairs = [spread([float(v) for v in column]) for column in columns]
        per_class[key.removeprefix("per_class_")] = {
            "mean": [m for m, _ in pairs],
            "std": [s for _, s in pairs],
        }
    matrices = [e["confusion_matrix"] for e in evaluations]
    summed = [
        [sum(m[i][j] for m in matrices) for j in range(len(matrices[0][i]))]
        for i in range(len(matrices[0]))
    ]
    return {
        "n": len(evaluations),
        "mean": mean,
        "std": std,
        "per_class": per_class,
        "confusion_matrix": summed,
    }


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
        if t.state.name == "COMPLETE" and t.user_attrs.get("config")
    ][:top]
    if not ranked:
        raise StudyError(
            f"study '{study_name}' has no completed trial with a stored configuration; "
            "run it first: hpo run --space FILE"
        )
    if threads:
        torch.set_num_threads(threads)
    torch_device = resolve_device(device)
    study_seed = _study_seed(study)
    tracker = Tracker(study_name, tracking_uri=tracking_uri)
    total = len(ranked) * seeds
    data_cache: dict[str, Splits] = {}
    configs: list[ConfigResult] = []
    shipped: tuple[int, SeedResult, torch.nn.Module, Splits] | None = None
    for rank, trial in ranked:
        splits = _splits(trial.user_attrs["config"]["data"], study_seed, data_cache)
        result, first_model = _retrain_config(
            tracker,
            trial,
            rank=rank,
            splits=splits,
            seeds=retrain_seeds(int(trial.user_attrs.get("seed", study_seed)), seeds),
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
    logged = _ship(
        tracker,
        study_name,
        model,
        ship_splits,
        trial=number,
        seed_result=seed_result,
        config=next(c for c in configs if c.trial == number),
        data=next(t for _, t in ranked if t.number == number).user_attrs["config"]["data"],
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
    )
    study.set_user_attr(ATTR_RETRAIN, _study_summary(result))
    return result


def _study_seed(study: optuna.Study) -> int:
    """The study seed the splits were drawn with (``study.seed`` of the stored space)."""
    raw = study.user_attrs.get("hpo.space") or {}
    return int((raw.get("study") or {}).get("seed", 0))


def _splits(data: dict[str, Any], seed: int, cache: dict[str, Splits]) -> Splits:
    """The study's splits with train and val joined into one training set (val left as is)."""
    import torch

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data

    key = json.dumps(data, sort_keys=True)
    if key not in cache:
        splits = load_data(DataConfig.model_validate(data), seed=seed)
        x = torch.cat([splits.train[0], splits.val[0]])
        y = torch.cat([splits.train[1], splits.val[1]])
        cache[key] = dataclasses.replace(splits, train=(x, y), val=(x, y))
    return cache[key]


def _retrain_config(
    tracker: Tracker,
    trial: optuna.trial.FrozenTrial,
    *,
    rank: int | None,
    splits: Splits,
    seeds: list[int],
    epochs: int | None,
    device: torch.device,
    metrics: list[str],
    progress: Callable[[SeedEvent], None] | None,
    done: int,
    total: int,
) -> tuple[ConfigResult, torch.nn.Module | None]:
    """Every seed of one configuration, under one MLflow run; the first good seed's model."""
    from orchestrator.config import EarlyStoppingConfig, TrainConfig
    from orchestrator.device import resolve_precision
    from orchestrator.models import family_config

    config = trial.user_attrs["config"]
    model_cfg = family_config(config["model"]["family"]).model_validate(config["model"])
    train_cfg = TrainConfig.model_validate(config["train"])
    n_epochs = epochs or int(trial.user_attrs.get("best_epoch") or train_cfg.epochs)
    # no validation data is left to stop on or to pick an epoch by: a fixed number of epochs
    train_cfg = train_cfg.model_copy(
        update={"epochs": n_epochs, "early_stopping": EarlyStoppingConfig()}
    )
    precision = resolve_precision(train_cfg.precision, device)
    values = dict(zip(metrics, trial.values, strict=False))
    parent = tracker.start_run(
        f"retrain-t{trial.number:04d}",
        role=ROLE_CONFIG,
        params={**trial.params, "epochs": n_epochs, "seeds": json.dumps(seeds)},
        tags={
            "hpo.trial": trial.number,
            "hpo.rank": rank if rank is not None else "-",
            "hpo.trial_run_id": trial.user_attrs.get("mlflow_run_id", "-"),
            "hpo.device": str(device),
        },
    )
    result = ConfigResult(
        trial=trial.number,
        rank=rank,
        params=dict(trial.params),
        epochs=n_epochs,
        run_id=parent.run_id,
        seeds=[],
    )
    first_model = None
    status = "KILLED"
    try:
        for i, seed in enumerate(seeds):
            seed_result, model = _retrain_seed(
                tracker,
                parent.run_id,
                trial=trial.number,
                seed=seed,
                model_cfg=model_cfg,
                train_cfg=train_cfg,
                splits=splits,
                device=device,
                precision=precision,
            )
            result.seeds.append(seed_result)
            if first_model is None and model is not None:
                first_model = model
            if progress is not None:
                progress(
                    SeedEvent(
                        trial=trial.number,
                        seed=seed,
                        index=done + i + 1,
                        total=total,
                        metrics=seed_result.metrics,
                        seconds=seed_result.seconds,
                        failure=seed_result.failure,
                    )
                )
        good = [s.evaluation for s in result.seeds if s.failure is None]
        result.summary = summarize(good)
        status = "FINISHED" if good else "FAILED"
    except BaseException:
        status = "FAILED"
        raise
    finally:
        summary_metrics = {f"{k}_mean": v for k, v in result.mean.items()}
        summary_metrics |= {f"{k}_std": v for k, v in result.std.items()}
        if result.summary:
            tracker.log_dict(
                parent.run_id,
                {
                    "trial": trial.number,
                    "search_values": values,
                    "epochs": n_epochs,
                    "seeds": seeds,
                    "class_names": splits.spec.class_names,
                    **result.summary,
                    "per_seed": [
                        {"seed": s.seed, "run_id": s.run_id, "failure": s.failure, **s.metrics}
                        for s in result.seeds
                    ],
                },
                "retrain_evaluation.json",
            )
        parent.end(
            status,  # type: ignore[arg-type]
            state="COMPLETE" if status == "FINISHED" else "FAIL",
            metrics=summary_metrics,
        )
    return result, first_model


def _retrain_seed(
    tracker: Tracker,
    parent_run_id: str,
    *,
    trial: int,
    seed: int,
    model_cfg: Any,
    train_cfg: Any,
    splits: Splits,
    device: torch.device,
    precision: str,
) -> tuple[SeedResult, torch.nn.Module | None]:
    """Train one seed on train+val, evaluate its last weights on the test split."""
    from orchestrator.models import build_model
    from orchestrator.train import evaluate, fit

    started = time.monotonic()
    run = tracker.start_run(
        f"retrain-t{trial:04d}-s{seed}",
        role=ROLE_SEED,
        params={"seed": seed, "epochs": train_cfg.epochs},
        tags={"hpo.trial": trial, "hpo.seed": seed, "hpo.device": str(device)},
        parent_run_id=parent_run_id,
    )

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        # the "val" of this fit is the training data itself (train+val): named for what it is
        run.log_epoch(
            epoch,
            {
                "train_loss": metrics["train_loss"],
                "trainval_loss": metrics["val_loss"],
                "trainval_accuracy": metrics["val_accuracy"],
                "lr": metrics["lr"],
                "epoch_seconds": metrics["epoch_seconds"],
            },
        )

    try:
        model = build_model(model_cfg, splits.spec, seed=seed)
        fit(
            model,
            splits,
            train_cfg,
            device=device,
            precision=precision,
            seed=seed,
            metric="val_loss",
            direction="minimize",
            callbacks=[on_epoch_end],
        )
        # the model is left at its last epoch's weights: those are what is tested and shipped
        x, y = splits.test
        report = evaluate(
            model, x, y, device=device, precision=precision, num_classes=splits.spec.num_classes
        )
    except TrialFailure as exc:
        run.end(
            "FAILED", state="FAIL", tags={"hpo.fail_reason": str(exc), "hpo.fail_kind": exc.kind}
        )
        result = SeedResult(seed, run.run_id, time.monotonic() - started, failure=str(exc))
        return result, None
    except KeyboardInterrupt:
        run.end("KILLED", state="FAIL", tags={"hpo.fail_kind": "interrupted"})
        raise
    except BaseException as exc:
        run.end("FAILED", state="FAIL", tags={"hpo.fail_reason": f"{type(exc).__name__}: {exc}"})
        raise
    metrics = {f"test_{k}": float(report[k]) for k in SCALAR_METRICS}
    per_class = {
        f"test_{key.removeprefix('per_class_')}_class_{name}": float(value)
        for key in PER_CLASS
        for name, value in zip(splits.spec.class_names, report[key], strict=True)
    }
    tracker.log_dict(
        run.run_id,
        {"trial": trial, "seed": seed, "class_names": splits.spec.class_names, **report},
        "test_evaluation.json",
    )
    run.end("FINISHED", state="COMPLETE", metrics={**metrics, **per_class})
    seconds = time.monotonic() - started
    return SeedResult(seed, run.run_id, seconds, metrics=metrics, evaluation=report), model


def _ship(
    tracker: Tracker,
    study_name: str,
    model: torch.nn.Module,
    splits: Splits,
    *,
    trial: int,
    seed_result: SeedResult,
    config: ConfigResult,
    data: dict[str, Any],
    register: bool,
) -> LoggedModel:
    """Log the model with its preprocessing on its seed's run; register it under the study."""
    from orchestrator.tracking import describe_model_version, log_pytorch_model

    record = {
        "format": 1,
        "study": study_name,
        "trial": trial,
        "seed": seed_result.seed,
        "data": data,
        "spec": splits.spec.to_dict(),
        "preprocessing": splits.preprocessing,
    }
    model = model.to("cpu").eval()  # a portable CPU graph, traced in inference mode
    example = splits.train[0][:INPUT_EXAMPLE_ROWS].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PREPROCESSING_FILE
        path.write_text(json.dumps(record, indent=2, default=str))
        tracker.log_file(seed_result.run_id, path)
        logged = log_pytorch_model(
            tracker,
            seed_result.run_id,
            model,
            input_example=example,
            extra_files=[path],
            registered_model_name=study_name if register else None,
        )
    logger.info("log_model took %.2f s", logged.seconds)
    tracker.set_tags(seed_result.run_id, {"hpo.shipped": logged.model_uri})
    if logged.version is not None:
        mean, std = config.mean, config.std
        spread = ", ".join(
            f"{k.removeprefix('test_')} {mean[k]:.4f} +- {std[k]:.4f}"
            for k in ("test_accuracy", "test_precision", "test_recall", "test_f1")
        )
        describe_model_version(
            tracker,
            study_name,
            logged.version,
            description=(
                f"hpo study '{study_name}', trial #{trial}, retrained on train+val for "
                f"{config.epochs} epochs with seed {seed_result.seed}. Test split over "
                f"{len(config.seeds)} seeds (mean +- std): {spread}."
            ),
            tags={
                "hpo.study": study_name,
                "hpo.trial": trial,
                "hpo.seed": seed_result.seed,
                **{f"{k}_mean": v for k, v in mean.items()},
                **{f"{k}_std": v for k, v in std.items()},
            },
        )
    return logged


def _study_summary(result: RetrainResult) -> dict[str, Any]:
    """What the study remembers of its last retraining (small: macro metrics only)."""
    model = result.model
    return {
        "at": dt.datetime.now().isoformat(timespec="seconds"),
        "configs": [
            {
                "trial": c.trial,
                "rank": c.rank,
                "epochs": c.epochs,
                "seeds": [s.seed for s in c.seeds],
                "failed_seeds": [s.seed for s in c.seeds if s.failure],
                "mean": c.mean,
                "std": c.std,
                "run_id": c.run_id,
            }
            for c in result.configs
        ],
        "model": None
        if model is None
        else {
            "model_uri": model.model_uri,
            "name": model.name,
            "version": model.version,
            "run_id": model.run_id,
            "trial": result.shipped_trial,
            "seed": result.shipped_seed,
        },
    }
