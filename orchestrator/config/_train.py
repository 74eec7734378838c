"""Training's settings: optimizers, schedule, early stopping, precision, augmentation."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, model_validator

from orchestrator.config._base import _Strict


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
