"""Resolved configuration: what one trial runs with, once every search parameter is sampled.

Every default of hpo lives here, with its unit or a typical value beside it. The search-space file
(see :mod:`orchestrator.space`) uses the same key names; each key is either a fixed value or a
search parameter. Model-family configs live beside their family in :mod:`orchestrator.models`.

Importing this module is cheap (pydantic only): ``hpo validate`` relies on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.durations import format_duration, parse_duration
from orchestrator.tasks import METRICS

__all__ = [
    "METRICS",
    "PRECISIONS",
    "PRUNERS",
    "SAMPLERS",
    "AugmentConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "Factory",
    "MNIST1DConfig",
    "OptimizerConfig",
    "PrunerConfig",
    "SamplerConfig",
    "ScheduleConfig",
    "StudyConfig",
    "TrainConfig",
    "WarmStartConfig",
    "format_duration",
    "parse_duration",
]


class _Strict(BaseModel):
    """Unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- study ---------------------------------------------------------------------------------------

# metric name -> natural direction: every task's val_<metric> (orchestrator.tasks, which says
# which task scores which), and n_parameters and latency_ms, measured of the trained model


@dataclass(frozen=True)
class Factory:
    """One entry of a registry: the class that implements a name, the extra packages it needs
    (checked before the first trial, with the command that installs them), and hpo's defaults
    for its options (the space's ``options`` override them)."""

    target: str  # "module:ClassName", imported only when the study is built
    packages: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)


# The registries: a new sampler or pruner is one entry here (the names the space accepts derive
# from them). Options a few of them need computed from the space (a grid, hyperband's
# max_resource, what patient wraps) are filled in by orchestrator.study when it builds them.
# `window`: the samplers whose cost grows with the study learn from its 500 most recent
# finished trials and the best 50 (hpo's own option, null for every trial)
SAMPLERS: dict[str, Factory] = {
    "tpe": Factory("optuna.samplers:TPESampler", defaults={"window": 500}),
    "random": Factory("optuna.samplers:RandomSampler"),
    "grid": Factory("optuna.samplers:GridSampler"),
    "gp": Factory(
        "optuna.samplers:GPSampler", packages=("scipy", "torch"), defaults={"window": 500}
    ),
    "cmaes": Factory("optuna.samplers:CmaEsSampler", packages=("cmaes",)),
    "qmc": Factory("optuna.samplers:QMCSampler", packages=("scipy",)),
    "nsga2": Factory("optuna.samplers:NSGAIISampler"),
}
PRUNERS: dict[str, Factory] = {
    # steps are 1-based epochs: a trial is never judged on its first epoch alone
    "median": Factory(
        "optuna.pruners:MedianPruner", defaults={"n_warmup_steps": 2, "n_startup_trials": 5}
    ),
    "percentile": Factory(
        "optuna.pruners:PercentilePruner", defaults={"percentile": 25.0, "n_warmup_steps": 2}
    ),
    "successive_halving": Factory("optuna.pruners:SuccessiveHalvingPruner"),
    "hyperband": Factory("optuna.pruners:HyperbandPruner", defaults={"min_resource": 1}),
    "patient": Factory("optuna.pruners:PatientPruner", defaults={"patience": 1}),
    "threshold": Factory("optuna.pruners:ThresholdPruner"),
    "none": Factory("optuna.pruners:NopPruner"),
}
SamplerName = Literal[tuple(SAMPLERS)]  # type: ignore[valid-type]
PrunerName = Literal[tuple(PRUNERS)]  # type: ignore[valid-type]


class SamplerConfig(_Strict):
    """An Optuna sampler by name; ``options`` go to its constructor (seed is set by hpo)."""

    name: SamplerName = "tpe"
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerConfig(_Strict):
    """An Optuna pruner by name; ``options`` go to its constructor.

    ``patient`` wraps another pruner: ``options: {patience: 2, wrapped: median}``.
    """

    name: PrunerName = "median"
    options: dict[str, Any] = Field(default_factory=dict)


class WarmStartConfig(_Strict):
    """Queue the best configurations of another study first (``hpo refine`` writes one: the
    study it narrowed). The same as ``hpo run --warm-start STUDY --top K``."""

    study: str  # the study whose trials are queued, in the same storage
    top: int = Field(default=10, gt=0)  # its best trials that fit this space


class StudyConfig(_Strict):
    name: str | None = None  # default: the space file's stem, e.g. "cnn"
    # one of METRICS, or a list of them for a multi-objective study; default the task's own
    # (val_accuracy for classes, val_roc_auc for two, val_micro_f1 for labels, val_rmse for
    # values), known once the data is: see for_task
    metric: str | list[str] | None = None
    # default: each metric's own; a list for several metrics
    direction: Literal["maximize", "minimize"] | list[Literal["maximize", "minimize"]] | None = None
    n_trials: int = Field(default=20, gt=0)  # total finished trials over every run and worker
    timeout: str | float | None = None  # "90s", "30m", "8h" or seconds; per `hpo run` call
    seed: int = 0  # study seed: sampler, splits, and every trial's seed derive from it
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    # times a failed configuration is queued again, per failure class (stale, oom, nan, timeout,
    # error); interrupted and deadline-stopped trials are always queued again
    retries: dict[Literal["stale", "oom", "nan", "timeout", "error"], int] = Field(
        default_factory=lambda: {"stale": 2}
    )
    max_failures: int = Field(default=5, gt=0)  # consecutive failed trials that stop a run
    warm_start: WarmStartConfig | None = None  # a study whose best trials are queued first
    # the winner's network, as it trained in the search, logged as an MLflow model on its trial
    # run when the study ends (the Models tab, mlflow.pyfunc.load_model, mlflow models serve)
    log_model: bool = True

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else parse_duration(self.timeout)

    @model_validator(mode="after")
    def _directions_match_metrics(self) -> StudyConfig:
        if self.metric is None:
            if isinstance(self.direction, list):
                raise ValueError(
                    "direction: a list of directions needs the metrics too; give metric: [...]"
                )
            return self
        metrics = self.metrics
        if not metrics:
            raise ValueError("metric: give at least one metric")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric: each metric may appear once, got {metrics}")
        if isinstance(self.direction, list) and len(self.direction) != len(metrics):
            raise ValueError(
                f"direction: {len(self.direction)} directions for {len(metrics)} metrics; "
                "give one direction per metric, or leave direction out"
            )
        if isinstance(self.direction, str) and len(metrics) > 1:
            raise ValueError(
                f"direction: one direction ({self.direction}) for {len(metrics)} metrics; "
                "give a list with one direction per metric, or leave direction out"
            )
        return self

    @field_validator("retries")
    @classmethod
    def _non_negative_retries(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, count in value.items():
            if count < 0:
                raise ValueError(f"retries.{kind} must be >= 0, got {count}")
        return value

    @property
    def metrics(self) -> list[str]:
        """Every objective, in order (one for a single-objective study).

        Raises:
            RuntimeError: no metric was given and the task's default is not filled in yet
                (:meth:`for_task`): a programming error.
        """
        if self.metric is None:
            raise RuntimeError(
                "study.metric: the task's default is known once the data is; resolve the space "
                "first (preflight, Space.for_task)"
            )
        return list(self.metric) if isinstance(self.metric, list) else [self.metric]

    def for_task(
        self, default_metric: str, valid: Sequence[str], *, task: str = "this task"
    ) -> StudyConfig:
        """This config with the task's ``default_metric`` where no metric was given, every
        metric checked to be one the task scores (``valid``) or measures.

        Raises:
            ValueError: a metric the task does not score, naming the valid ones.
        """
        study = self
        if self.metric is None:
            study = self.model_copy(update={"metric": default_metric})
        allowed = [*valid, *(m for m in METRICS if not m.startswith("val_"))]
        for metric in study.metrics:
            if metric not in allowed:
                raise ValueError(
                    f"{metric} is not a metric of {task}; valid: {', '.join(allowed)}; or set "
                    "data.task"
                )
        return study

    @property
    def primary_metric(self) -> str:
        """The first objective: the one reported each epoch (pruning, early stopping)."""
        return self.metrics[0]

    @property
    def directions(self) -> list[str]:
        if isinstance(self.direction, list):
            return list(self.direction)
        if isinstance(self.direction, str):
            return [self.direction]
        return [METRICS.get(m, "maximize") for m in self.metrics]

    @property
    def is_multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def resolved_direction(self) -> str:
        """The direction of the primary metric."""
        return self.directions[0]


# --- data ----------------------------------------------------------------------------------------


class MNIST1DConfig(_Strict):
    """How MNIST-1D is generated: the published settings (Greydanus & Kobak, 2024) by default."""

    num_samples: int = Field(default=5000, ge=20)  # 500 per class
    train_split: float = Field(default=0.8, gt=0, lt=1)  # first 4000 train, last 1000 test
    template_len: int = Field(default=12, gt=0)  # points in each digit's template
    padding: tuple[int, int] = (36, 60)  # random zero padding before resampling, (low, high)
    scale_coeff: float = Field(default=0.4, ge=0)  # random scaling amplitude
    max_translation: int = Field(default=48, ge=0)  # random shift, in steps before resampling
    corr_noise_scale: float = Field(default=0.25, ge=0)  # correlated (smoothed) noise
    iid_noise_scale: float = Field(default=2e-2, ge=0)  # per-step noise
    shear_scale: float = Field(default=0.75, ge=0)
    shuffle_seq: bool = False  # permute the steps (a test of spatial priors)
    final_seq_length: int = Field(default=40, gt=0)  # steps per sample
    seed: int = 42  # the generator's own seed: the published data is seed 42

    @field_validator("padding")
    @classmethod
    def _padding_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"0 <= low <= high must hold, got {list(value)}")
        return value


class DataConfig(_Strict):
    """Which data, how it is read and split. Data settings are fixed for a study."""

    # a bundled set (digits, iris, wine, breast_cancer, mnist1d) or a loader (csv, npz, images)
    name: str = "digits"
    # of the whole data set; where a set has its own test split (mnist1d), of its training part
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    # held out, never used by the search; ignored where the set keeps its own test split
    test_fraction: float = Field(default=0.15, gt=0, lt=1)
    # K-fold cross-validation of every trial over the train and validation rows (stratified for
    # classes); the objective is the mean over the folds. None: the one validation split
    cv: int | None = Field(default=None, ge=2, le=20)
    normalize: bool = True  # standardize with train-split statistics
    published_split: bool = True  # mnist1d: keep the published test split (false: re-split all)
    # where generated and decoded data is cached (mnist1d, images, csv text tokenised by a
    # pretrained model); None: $HPO_CACHE_DIR, else ~/.cache/hpo
    cache_dir: str | None = None
    mnist1d: MNIST1DConfig = Field(default_factory=MNIST1DConfig)  # mnist1d generation
    # what is predicted: auto decides from the target (several 0/1 columns: multilabel; two
    # classes: binary; real numbers or more than 20 distinct whole numbers: regression; else
    # multiclass) and says what it decided
    task: Literal["auto", "multiclass", "binary", "multilabel", "regression"] = "auto"
    # binary: the class whose probability is scored (ROC AUC, F1); None: the minority class
    positive_class: str | int | bool | None = None
    # csv, npz, images: a file or folder, relative to the working directory
    path: str | None = None
    # csv
    target: str | list[str] | None = None  # the target column (required); a list: multi-label
    features: list[str] | None = None  # feature columns; None: every column but target and text
    exclude: list[str] | None = None  # columns never used as features (ids, leaks)
    categorical: list[str] | None = None  # feature columns one-hot encoded whatever they hold
    # cells read as missing, beside pandas' own (empty, NA, N/A, null, NaN, None, ...)
    missing: list[str] = Field(default_factory=lambda: ["?", "-", "--", "."])
    text: str | None = None  # a text column: makes it text classification (no other features)
    tokenizer: Literal["word", "char"] = "word"  # text: lowercase words and punctuation, or chars
    max_length: int = Field(default=64, gt=0)  # text: tokens kept per row; shorter rows padded
    min_freq: int = Field(default=1, ge=1)  # text: rarer train tokens become <unk>
    max_vocab: int = Field(default=20000, ge=2)  # text: most frequent tokens kept, incl. pad, unk
    # npz
    x_key: str = "x"  # the samples array
    y_key: str = "y"  # the labels array
    # npz: what x holds; auto: (N, F) features, (N, C, H, W) image; (N, H, W) and (N, T, F) need
    # image or sequence. Sequences are (N, T, F): T steps of F features (or (N, T) for F = 1)
    kind: Literal["auto", "image", "sequence", "features"] = "auto"
    # images: one sub-folder per class
    image_size: int = Field(default=32, gt=0)  # every image resized to size x size pixels
    color: Literal["rgb", "gray"] = "rgb"  # 3 channels, or 1


# --- train ---------------------------------------------------------------------------------------


class _Optimizer(_Strict):
    """An optimizer's settings; ``torch_class`` names the ``torch.optim`` class it builds."""

    torch_class: ClassVar[str]
    fused: ClassVar[bool] = False  # try torch's fused kernel first (~1.2x faster on CPU)
    lr: float = Field(default=1e-3, gt=0)  # typical 1e-4 .. 1e-1
    weight_decay: float = Field(default=0.0, ge=0)  # decoupled for adamw, L2 otherwise

    def torch_options(self) -> dict[str, Any]:
        """The ``torch.optim`` constructor's own options (besides the parameters, lr and the
        weight decay, which hpo sets per parameter group)."""
        return {}


class SGDConfig(_Optimizer):
    torch_class = "SGD"
    name: Literal["sgd"] = "sgd"
    lr: float = Field(default=1e-2, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False  # needs momentum > 0

    def torch_options(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class AdamConfig(_Optimizer):
    torch_class, fused = "Adam", True
    name: Literal["adam"] = "adam"
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)

    def torch_options(self) -> dict[str, Any]:
        return {"betas": (self.beta1, self.beta2)}


class AdamWConfig(AdamConfig):
    torch_class = "AdamW"
    name: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: float = Field(default=1e-2, ge=0)


class RMSpropConfig(_Optimizer):
    torch_class = "RMSprop"
    name: Literal["rmsprop"] = "rmsprop"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    alpha: float = Field(default=0.99, gt=0, lt=1)

    def torch_options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "momentum": self.momentum}


# The optimizer registry: a new optimizer is its settings class above and one entry here.
OPTIMIZERS: dict[str, type[_Optimizer]] = {
    "sgd": SGDConfig,
    "adam": AdamConfig,
    "adamw": AdamWConfig,
    "rmsprop": RMSpropConfig,
}
OptimizerConfig = Annotated[Union[tuple(OPTIMIZERS.values())], Field(discriminator="name")]  # noqa: UP007


class ScheduleConfig(_Strict):
    """Learning-rate schedule over epochs, after an optional linear warmup."""

    name: Literal["none", "cosine", "step", "onecycle", "linear"] = "none"
    warmup_epochs: int = Field(default=0, ge=0)  # linear ramp from lr/10 (0 = no warmup)
    # or a warmup over this fraction of all steps, e.g. 0.06 (as Transformers' schedules count it)
    warmup_fraction: float = Field(default=0.0, ge=0, lt=1)
    step_size: int = Field(default=5, gt=0)  # step: epochs between decays
    gamma: float = Field(default=0.1, gt=0, le=1)  # step: decay factor
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)  # cosine: floor as a fraction of lr
    pct_start: float = Field(default=0.3, gt=0, lt=1)  # onecycle: fraction spent rising

    @model_validator(mode="after")
    def _one_warmup(self) -> ScheduleConfig:
        if self.warmup_epochs and self.warmup_fraction:
            raise ValueError("give warmup_epochs or warmup_fraction, not both")
        return self


class EarlyStoppingConfig(_Strict):
    patience: int | None = None  # epochs without improvement of the study metric; None = off
    min_delta: float = Field(default=0.0, ge=0)


PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")


class AugmentConfig(_Strict):
    """Random changes to training batches, on the device; evaluation never sees them.

    Each is off at its default. Which apply depends on the data: images take shift, flip, noise,
    cutout; sequences take shift, noise, time_mask; feature tables take noise; every kind takes
    mixup (token data mixes its embeddings). Inputs are standardized, so a zero is the mean.
    """

    shift: int = Field(default=0, ge=0)  # random shift by up to +-shift pixels/steps, zero-filled
    flip: Literal["none", "horizontal", "vertical", "both"] = "none"  # images: each at p = 0.5
    noise: float = Field(default=0.0, ge=0)  # std of added Gaussian noise; typical 0.05 .. 0.3
    cutout: int = Field(default=0, ge=0)  # images: zero one random square of this side
    time_mask: int = Field(default=0, ge=0)  # sequences: zero one random span of up to this long
    mixup: float = Field(default=0.0, ge=0)  # Beta(alpha, alpha) of mixup; typical 0.2 .. 0.4


class TrainConfig(_Strict):
    epochs: int = Field(default=10, gt=0)
    batch_size: int = Field(default=64, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=AdamWConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    # regression: mse, huber (delta: one standard deviation of the target) or l1; auto: mse for
    # values, cross-entropy for classes, binary cross-entropy for labels
    loss: Literal["auto", "mse", "huber", "l1"] = "auto"
    # classes and labels: balanced weighs each class by the inverse of its share of the training
    # rows (labels: positives by negatives over positives)
    class_weight: Literal["none", "balanced"] = "none"
    grad_clip: float | None = Field(default=None, gt=0)  # max gradient norm; None = off
    gradient_accumulation: int = Field(default=1, ge=1)  # batches per optimizer step
    head_lr_factor: float = Field(default=1.0, gt=0)  # the classifier head's lr / optimizer.lr
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"  # auto: bf16 on CUDA
    augment: AugmentConfig = Field(default_factory=AugmentConfig)  # off by default

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> TrainConfig:
        opt = self.optimizer
        if isinstance(opt, SGDConfig) and opt.nesterov and opt.momentum <= 0:
            raise ValueError("optimizer: nesterov=true needs momentum > 0")
        return self
