"""Regression: one number per sample. The model predicts the target standardised with the
training split's mean and standard deviation (``DataSpec.target``); predictions and every metric
are in the target's own units.

Losses (``train.loss``, searchable): ``mse`` (the default), ``huber`` (its delta is one standard
deviation of the target) and ``l1``, all on the standardised target; ``val_loss`` is the mean
squared error there, whatever the training loss, so that it compares across trials. Scores
(scikit-learn's): RMSE, MAE, R², MAPE and, for a target without negative values, RMSLE (negative
predictions count as 0 there). With ``details``: predicted against actual values (up to
:data:`PAIRS` rows) for the report's plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.tasks._base import LossFunction, Outcomes, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import DataSpec

__all__ = ["RegressionTask", "scale_of"]

PAIRS = 2000  # (actual, predicted) pairs kept for the report's plots


def scale_of(spec: DataSpec) -> tuple[float, float]:
    """The mean and standard deviation the target was standardised with (0 and 1 if it was not)."""
    target = spec.target or {}
    return float(target.get("mean", 0.0)), float(target.get("std", 1.0))


class RegressionTask(Task):
    name = "regression"
    title = "regression"
    metrics: ClassVar[tuple[str, ...]] = ("loss", "rmse", "mae", "r2", "mape", "rmsle")
    default_metric = "val_rmse"
    summary: ClassVar[tuple[str, ...]] = ("rmse", "mae", "r2")
    output_words = "one value per sample"
    report_plots: ClassVar[tuple[str, ...]] = ("residuals",)
    trains_with: ClassVar[dict[str, tuple[Any, ...]]] = {
        "loss": ("auto", "mse", "huber", "l1"),
        "class_weight": ("none",),
        "label_smoothing": (0, 0.0),
    }

    def metric_names(self, spec: DataSpec | None = None) -> tuple[str, ...]:
        """RMSLE only for a target without negative values (known once the data is)."""
        if spec is not None and float((spec.target or {}).get("min", 0.0)) < 0:
            return tuple(m for m in self.metrics if m != "rmsle")
        return self.metrics

    def training_problem(self, key: str, value: Any) -> str | None:
        if key == "class_weight" and value != "none":
            return "class weights apply to classes; the task is regression; remove it"
        return super().training_problem(key, value)

    def n_outputs(self, spec: DataSpec) -> int:
        return 1

    def output_problem(self, shape: Any, n: int, spec: DataSpec) -> str | None:
        """One value per sample: ``(n, 1)``, or ``(n,)``."""
        if tuple(shape) in ((n, 1), (n,)):
            return None
        return f"expected ({n}, 1): {self.output_words}"

    def loss_function(self, config: TrainConfig, spec: DataSpec, y: torch.Tensor) -> LossFunction:
        from torch import nn

        loss = {"auto": nn.MSELoss, "mse": nn.MSELoss, "huber": nn.HuberLoss, "l1": nn.L1Loss}
        criterion = loss[config.loss]()

        def on_values(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return criterion(outputs.reshape(-1).float(), target.float())

        return on_values

    def score(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        details: bool = False,
        decision: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        import numpy as np
        from sklearn import metrics

        standard = outputs.reshape(-1).double().numpy()
        mean, std = scale_of(spec)
        true = y.double().numpy() * std + mean
        pred = standard * std + mean
        out: dict[str, Any] = {
            "loss": float(np.mean((standard - y.double().numpy()) ** 2)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(true, pred))),
            "mae": metrics.mean_absolute_error(true, pred),
            "r2": metrics.r2_score(true, pred) if len(true) > 1 else float("nan"),
            "mape": metrics.mean_absolute_percentage_error(true, pred),
        }
        if "rmsle" in self.metric_names(spec):
            logs = metrics.mean_squared_log_error(np.clip(true, 0, None), np.clip(pred, 0, None))
            out["rmsle"] = float(np.sqrt(logs))
        if details:
            keep = np.arange(len(true))
            if len(keep) > PAIRS:
                keep = np.random.default_rng(0).choice(keep, PAIRS, replace=False)
            out["pairs"] = {
                "actual": [float(v) for v in true[keep]],
                "predicted": [float(v) for v in pred[keep]],
            }
        return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}

    def predictions(self, outputs: torch.Tensor, spec: DataSpec) -> np.ndarray:
        mean, std = scale_of(spec)
        return outputs.reshape(-1).double().numpy() * std + mean

    def outputs_from(self, predictions: np.ndarray, spec: DataSpec) -> torch.Tensor:
        """The values standardised again, one column."""
        import torch

        mean, std = scale_of(spec)
        return torch.from_numpy((predictions.reshape(-1, 1) - mean) / std).float()

    def prediction_columns(
        self,
        predicted: np.ndarray,
        spec: DataSpec,
        *,
        record: dict[str, Any],
        proba: bool = False,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """The predicted value, in a column named after the target."""
        from orchestrator.tasks.multiclass import target_column

        return {target_column(record): predicted}

    def outcomes(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        decision: dict[str, float] | None = None,
    ) -> Outcomes:
        """Values and truth in the target's units; the largest absolute errors are the worst,
        and those of the largest quarter count as wrong (for pictures of right and wrong)."""
        import numpy as np

        mean, std = scale_of(spec)
        values = self.predictions(outputs, spec)
        truth = y.reshape(-1).double().numpy() * std + mean
        error = np.abs(values - truth)
        cut = np.quantile(error, 0.75) if len(error) else 0.0
        return Outcomes(
            predicted=[f"{v:.4g}" for v in values],
            actual=[f"{v:.4g}" for v in truth],
            wrong=error > cut,
            badness=error,
            confidence=np.full(len(values), np.nan),
            target=np.zeros(len(values), dtype=np.int64),
            badness_words="absolute error",
        )
