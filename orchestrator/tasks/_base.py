"""What every task answers: :class:`Task`, one small base behind the registry.

A task is stateless: what it needs of the data at hand (the classes, the labels, the target's
scale) travels in the :class:`~orchestrator.data.DataSpec` it is given. It is asked by data
(whether the split is stratified), train (the output size, the loss, the scores of a split),
study (the metrics and their directions, the settings it trains with), predict (what a
prediction file holds), retrain and the report (which numbers summarise a model). Nothing
outside ``orchestrator.tasks`` names classes, cross-entropy or accuracy.

torch, NumPy and scikit-learn are imported inside the methods: importing a task is cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.config import TrainConfig
    from orchestrator.data import DataSpec

__all__ = ["LossFunction", "Outcomes", "Task"]

LossFunction = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]  # (outputs, y) -> mean


@dataclass
class Outcomes:
    """What a model said of each sample against the truth, for explaining it (``hpo explain``).

    Attributes:
        predicted: what was predicted, in words (a class, the labels, a value in the target's
            units).
        actual: what was true, in the same words.
        wrong: a wrong class or label set; for values, an error among the largest quarter.
        badness: how wrong, larger worse: the probability given to anything but the true class,
            the largest error of a label's probability, or the absolute error in the target's
            units.
        confidence: the probability of what was predicted (NaN for values).
        target: the output an attribution explains, per sample: the predicted class, the most
            probable label, or the value (0).
        badness_words: what :attr:`badness` is, for a table's header.
    """

    predicted: list[str]
    actual: list[str]
    wrong: np.ndarray
    badness: np.ndarray
    confidence: np.ndarray
    target: np.ndarray
    badness_words: str


class Task(ABC):
    """One kind of problem: what the model predicts, how it learns it, how it is scored.

    Class attributes:
        name: the ``data.task`` value, e.g. ``"multiclass"``.
        title: a few words for people, e.g. ``"multiclass classification"``.
        metrics: the scores of a split, in the order they are logged: each is logged as
            ``val_<name>`` every epoch, ``best_<name>`` for the objective and ``test_<name>`` on
            the test split; the first is ``loss``. Directions: :mod:`._metrics`.
        extras: numbers decided on a split beside its scores (a binary task's F1 threshold):
            logged per epoch like the metrics (``val_threshold``), never an objective.
        default_metric: the objective when ``study.metric`` is not given.
        stratified: whether the train/val/test split keeps each class's share.
        summary: the metrics shown first where a model is summarised (retrain, the registry, the
            report), best known first.
        per_item: the keys of a :meth:`score` report that hold one value per class or label
            (``per_class_f1``): averaged over seeds item by item.
        summed: the keys that hold counts (a confusion matrix): summed over seeds.
        averaging: how a metric averages over classes or labels, where it matters to say so
            (``{"f1": "macro"}``).
        trains_with: the training settings that depend on the task, with the values it takes
            (``{"loss": ("mse", "huber", "l1")}``); settings absent here take any value.
        report_plots: the report's plots of the test split for this task (``confusion``,
            ``roc``, ``calibration``, ``residuals``), drawn from :meth:`score`'s details.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    extras: ClassVar[tuple[str, ...]] = ()
    default_metric: ClassVar[str]
    stratified: ClassVar[bool] = False
    summary: ClassVar[tuple[str, ...]]
    per_item: ClassVar[tuple[str, ...]] = ()
    summed: ClassVar[tuple[str, ...]] = ()
    averaging: ClassVar[dict[str, str]] = {}
    trains_with: ClassVar[dict[str, tuple[Any, ...]]] = {}
    report_plots: ClassVar[tuple[str, ...]] = ()

    def metric_names(self, spec: DataSpec | None = None) -> tuple[str, ...]:
        """The metrics this task scores on data of ``spec`` (every one it can, without)."""
        return self.metrics

    def objectives(self, spec: DataSpec | None = None) -> tuple[str, ...]:
        """What ``study.metric`` may name for data of ``spec``: ``val_<metric>``."""
        return tuple(f"val_{m}" for m in self.metric_names(spec))

    def training_problem(self, key: str, value: Any) -> str | None:
        """Why ``train.<key>: value`` does not fit this task (with the fix), or None."""
        allowed = self.trains_with.get(key)
        if allowed is None or value in allowed:
            return None
        if key == "label_smoothing":
            return f"label smoothing applies to classes; the task is {self.title}; remove it"
        valid = ", ".join(map(str, allowed))
        return f"{self.title} takes train.{key}: {valid}, got {value!r}"

    # --- the model's output -------------------------------------------------------------------

    output_words: ClassVar[str] = "one output per sample"

    def n_outputs(self, spec: DataSpec) -> int:
        """The width of the model's output: one logit per class or label, one value for a
        regression."""
        return int(spec.num_classes)

    def output_problem(self, shape: Sequence[int], n: int, spec: DataSpec) -> str | None:
        """Why an output of ``shape`` for ``n`` samples is not what this task needs, or None."""
        width = self.n_outputs(spec)
        if tuple(shape) != (n, width):
            return f"expected ({n}, {width}): {self.output_words}"
        return None

    # --- training -------------------------------------------------------------------------------

    @abstractmethod
    def loss_function(self, config: TrainConfig, spec: DataSpec, y: torch.Tensor) -> LossFunction:
        """The training loss: ``loss(outputs, y)``, the mean over the batch.

        Args:
            config: the trial's training settings (label smoothing, the loss, class weights).
            spec: the data.
            y: the training targets, for settings learnt from them (class weights).
        """

    # --- scoring --------------------------------------------------------------------------------

    @abstractmethod
    def score(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        details: bool = False,
        decision: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Every metric of :meth:`metric_names` and every extra of ``outputs`` (the model's,
        float32, on the CPU) against ``y``: a JSON-serialisable mapping.

        Args:
            details: also what the report and retrain show (a confusion matrix, per-class
                scores, curves): for a test split, not for every epoch.
            decision: the extras decided on the validation split (a binary task's threshold),
                applied here instead of being decided on this split.
        """

    def scalars(self, report: dict[str, Any]) -> dict[str, float]:
        """The metrics of a :meth:`score` report alone, as floats, in :attr:`metrics` order."""
        return {m: float(report[m]) for m in self.metrics if m in report}

    def epoch_values(self, report: dict[str, Any]) -> dict[str, float]:
        """The metrics and the extras of a :meth:`score` report: what an epoch logs."""
        return {**self.scalars(report), **{e: float(report[e]) for e in self.extras}}

    def decision(self, values: dict[str, Any], *, prefix: str = "") -> dict[str, float] | None:
        """The extras found in ``values`` (an epoch's metrics, ``prefix`` ``"val_"``), to apply
        to another split; None when the task has none or they are not there."""
        found = {e: float(values[f"{prefix}{e}"]) for e in self.extras if f"{prefix}{e}" in values}
        return found or None

    def summarize(self, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Mean and standard deviation over seeds of :meth:`score` reports of the test split.

        Returns:
            ``mean``/``std``: ``test_<metric>`` for every metric; for each group of
            :attr:`per_item` keys (``per_class_precision``, ...), ``{group: {metric: {"mean":
            [...], "std": [...]}}}`` (``per_class``: ``{"precision": ...}``); each
            :attr:`summed` key summed over seeds; ``n``: the number of seeds. The std is the
            sample standard deviation (0 for one seed). Empty for no reports.
        """
        import statistics

        def spread(values: list[float]) -> tuple[float, float]:
            mean = statistics.fmean(values)
            return mean, statistics.stdev(values) if len(values) > 1 else 0.0

        if not reports:
            return {}
        out: dict[str, Any] = {"n": len(reports), "mean": {}, "std": {}}
        for key in self.metrics:
            if all(key in r for r in reports):
                values = [float(r[key]) for r in reports]
                out["mean"][f"test_{key}"], out["std"][f"test_{key}"] = spread(values)
        for key in self.per_item:
            if not all(key in r for r in reports):
                continue
            group, _, metric = key.rpartition("_")
            columns = zip(*(r[key] for r in reports), strict=True)
            pairs = [spread([float(v) for v in column]) for column in columns]
            out.setdefault(group, {})[metric] = {
                "mean": [m for m, _ in pairs],
                "std": [s for _, s in pairs],
            }
        for key in self.summed:
            if all(key in r for r in reports):
                first = reports[0][key]
                out[key] = [
                    [sum(r[key][i][j] for r in reports) for j in range(len(first[i]))]
                    for i in range(len(first))
                ]
        return out

    # --- predictions ----------------------------------------------------------------------------

    @abstractmethod
    def predictions(self, outputs: torch.Tensor, spec: DataSpec) -> np.ndarray:
        """What the model says, in the data's own terms: class probabilities ``(N, K)``, label
        probabilities ``(N, L)``, or values ``(N,)`` in the target's units (float64)."""

    @abstractmethod
    def outputs_from(self, predictions: np.ndarray, spec: DataSpec) -> torch.Tensor:
        """Outputs that :meth:`predictions` turns back into ``predictions``: to score predictions
        that no single model gave (an ensemble's average) with :meth:`score`."""

    def score_predictions(
        self, predictions: np.ndarray, y: torch.Tensor, spec: DataSpec, **options: Any
    ) -> dict[str, Any]:
        """:meth:`score` of predictions rather than of a model's outputs."""
        return self.score(self.outputs_from(predictions, spec), y, spec, **options)

    @abstractmethod
    def prediction_columns(
        self,
        predicted: np.ndarray,
        spec: DataSpec,
        *,
        record: dict[str, Any],
        proba: bool = False,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """The columns ``hpo predict`` writes for :meth:`predictions`, by name, in order.

        Args:
            record: the shipped model's record (``preprocessing.json``).
            proba: also the probability of every class or label.
            threshold: a binary task's decision threshold (default 0.5).
        """

    def prediction_counts(self, columns: dict[str, Any], spec: DataSpec) -> dict[str, int]:
        """How many rows went to each class or label, for the line ``hpo predict`` prints; empty
        for values."""
        return {}

    # --- explaining -----------------------------------------------------------------------------

    @abstractmethod
    def outcomes(
        self,
        outputs: torch.Tensor,
        y: torch.Tensor,
        spec: DataSpec,
        *,
        decision: dict[str, float] | None = None,
    ) -> Outcomes:
        """Per sample of ``outputs`` (the model's, float32, on the CPU) against ``y``: what was
        predicted and what was true, how wrong, and which output to explain (``decision``: the
        extras decided on the validation split, a binary task's threshold)."""
