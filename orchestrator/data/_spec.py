"""What a loader hands to the models and the training loop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["DataKind", "DataSpec", "Splits"]

DataKind = Literal["image", "sequence", "features", "tokens"]
DATA_KINDS: tuple[str, ...] = ("image", "sequence", "features", "tokens")


@dataclass(frozen=True)
class DataSpec:
    """The shape of one sample and what is predicted: all a model family needs to size itself.

    ``input_shape`` is per sample: ``(C, H, W)`` for images, ``(C, L)`` for sequences (C values
    per step, L steps: channels first, as ``Conv1d`` takes them), ``(F,)`` for features, ``(L,)``
    for tokens (ids, 0 = padding, 1 = unknown, padded at the end).

    ``task`` names the :mod:`orchestrator.tasks` task; ``num_classes`` is the width of the model's
    output (:attr:`n_outputs`: the classes, the labels, or 1 for a regression) and
    ``class_names`` names the classes (a binary task's positive class last), the labels, or the
    target.
    """

    kind: DataKind
    input_shape: tuple[int, ...]  # e.g. (1, 8, 8) for digits
    num_classes: int
    class_names: list[str]
    vocab_size: int | None = None  # tokens only
    task: str = "multiclass"
    # regression: the target's training mean and std (it is standardised with them), min, max
    target: dict[str, float] | None = None

    @property
    def n_outputs(self) -> int:
        """The width of the model's output: what a model family sizes its last layer by."""
        return self.num_classes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy, e.g. to log beside a model."""
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DataSpec:
        """The spec :meth:`to_dict` recorded (a shipped model's, from before tasks too)."""
        known = {f: record[f] for f in cls.__dataclass_fields__ if f in record}
        return cls(**{**known, "input_shape": tuple(record["input_shape"])})


@dataclass
class Splits:
    """Train, validation and test tensors on the CPU: ``x`` float32 (int64 token ids for
    ``tokens``; uint8 pixels for images decoded from files, as the cache maps them), ``y`` as
    the task trains on it: int64 class indices, float32 ``(N, L)`` labels, or float32
    standardised values. Every batch of ``x`` goes into a model through :meth:`model_input`.

    ``preprocessing`` (JSON-serialisable) holds what :func:`orchestrator.data.apply_preprocessing`
    needs to prepare new raw input the same way; ``indices`` are each split's rows in the source.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    spec: DataSpec
    preprocessing: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, np.ndarray] = field(default_factory=dict)
    note: str | None = None  # what data.task: auto decided, said by hpo validate and hpo run
    # model_input's mean and std, per device they were asked on
    _scales: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per split, e.g. ``{"train": 1257, "val": 270, "test": 270}``."""
        return {"train": len(self.train[1]), "val": len(self.val[1]), "test": len(self.test[1])}

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of this data's ``x`` as the model takes it, on the batch's device: uint8
        pixels become float32, standardised with the training split's statistics (exactly the
        values :func:`~orchestrator.data.make_splits` would have stored as float); anything
        else is already so and is returned as it is."""
        import torch

        if x.dtype != torch.uint8:
            return x
        x = x.to(torch.float32)
        norm = self.preprocessing.get("normalize")
        if not norm:
            return x
        key = str(x.device)
        if key not in self._scales:
            shape = (1, -1) + (1,) * (x.ndim - 2)  # per channel, over (N, C, H, W)
            self._scales[key] = tuple(  # type: ignore[assignment]
                torch.tensor(norm[k], dtype=torch.float32, device=x.device).reshape(shape)
                for k in ("mean", "std")
            )
        mean, std = self._scales[key]
        return (x - mean) / std
