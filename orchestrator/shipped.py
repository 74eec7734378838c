"""A shipped model: one trained network or an ensemble of them, with everything that turns raw
input into the task's predictions.

A :class:`Bundle` holds its members (each a model family's config, the data spec it was built
for, the weights it trained and its weight in the ensemble), the preprocessing of the raw input
(:func:`orchestrator.data.apply_preprocessing`) and the task. :meth:`Bundle.predict` takes raw
samples (a table, text, arrays) and gives the task's predictions: class probabilities, label
probabilities or values in the target's units, averaged over the members by their weights;
:meth:`Bundle.frame` gives what ``hpo predict`` writes and the MLflow model returns.

On disk (:meth:`Bundle.save`): ``bundle.pt`` (tensors and plain values only, read back with
``torch.load(weights_only=True)``: nothing is unpickled) and ``bundle.json`` (the record, for
people and tools). Members are rebuilt by their family (:func:`orchestrator.models.build_model`),
so loading needs hpo, which the MLflow model carries in its code folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch

    from orchestrator.data import DataSpec

__all__ = ["BUNDLE_FILE", "RECORD_FILE", "Bundle", "Member"]

BUNDLE_FILE = "bundle.pt"
RECORD_FILE = "bundle.json"
FORMAT = 2  # 1: hpo retrain's pt2 models with preprocessing.json
BATCH_SIZE = 1024  # samples per forward pass


@dataclass
class Member:
    """One trained network of a bundle."""

    model: dict[str, Any]  # the family's config, as model_dump(mode="json") gives it
    spec: DataSpec
    state: dict[str, Any]  # what the model saves (orchestrator.train.state_to_save)
    weight: float = 1.0
    trial: int | None = None
    # its own preprocessing of raw input, where it differs from the bundle's (a pretrained
    # model's tokenizer beside a word vocabulary); None: the bundle's
    preprocessing: dict[str, Any] | None = None
    _module: Any = field(default=None, repr=False)

    def module(self) -> torch.nn.Module:
        """The network, rebuilt by its family and loaded, in eval mode (once)."""
        if self._module is None:
            from orchestrator.models import build_model, parse_model_config
            from orchestrator.train import load_saved_state

            module = build_model(parse_model_config(self.model), self.spec)
            load_saved_state(module, self.state)
            self._module = module.eval()
        return self._module


@dataclass
class Bundle:
    """Members, their preprocessing and their task: a model that predicts from raw input."""

    members: list[Member]
    preprocessing: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)  # study, trials, decision, metrics

    @property
    def spec(self) -> DataSpec:
        return self.members[0].spec

    @property
    def task(self) -> Any:
        from orchestrator.tasks import task_of

        return task_of(self.spec)

    # --- predicting ---------------------------------------------------------------------------

    def prepare(self, raw: Any) -> np.ndarray:
        """Raw samples as the members take them (see :func:`apply_preprocessing`)."""
        from orchestrator.data import apply_preprocessing

        return apply_preprocessing(raw, self.preprocessing)

    def predict(self, raw: Any, *, prepared: bool = False) -> np.ndarray:
        """The task's predictions for raw samples, the members' averaged by their weights:
        class probabilities ``(N, K)``, label probabilities ``(N, L)`` or values ``(N,)``.

        Args:
            prepared: ``raw`` went through :meth:`prepare` already (then every member must take
                the bundle's preprocessing).

        Raises:
            ValueError: a member whose output does not fit the task.
        """
        import numpy as np
        import torch

        from orchestrator.data import apply_preprocessing

        inputs: dict[int, torch.Tensor] = {}
        total = sum(m.weight for m in self.members)
        out = None
        for index, member in enumerate(self.members):
            key = -1 if member.preprocessing is None else index
            if key not in inputs:
                if key == -1:
                    x = raw if prepared else self.prepare(raw)
                else:
                    x = apply_preprocessing(raw, member.preprocessing)
                inputs[key] = torch.from_numpy(np.ascontiguousarray(x))
            tensor = inputs[key]
            module = member.module()
            size = min(BATCH_SIZE, getattr(module, "eval_batch_size", BATCH_SIZE))
            with torch.inference_mode():
                outputs = torch.cat(
                    [module(tensor[i : i + size]).float() for i in range(0, len(tensor), size)]
                )
            problem = self.task.output_problem(tuple(outputs.shape), len(tensor), member.spec)
            if problem is not None:
                raise ValueError(f"member of trial {member.trial}: {problem}")
            part = self.task.predictions(outputs, member.spec) * (member.weight / total)
            out = part if out is None else out + part
        assert out is not None
        return out

    def frame(
        self, predicted: np.ndarray, *, proba: bool = False, threshold: float | None = None
    ) -> dict[str, Any]:
        """The columns of the predictions, by name (see ``Task.prediction_columns``)."""
        return self.task.prediction_columns(
            predicted, self.spec, record=self.record_of_columns(), proba=proba, threshold=threshold
        )

    def record_of_columns(self) -> dict[str, Any]:
        return {**self.record, "preprocessing": self.preprocessing}

    def table(self, raw: Any, *, proba: bool = True) -> pd.DataFrame:
        """The predictions of raw samples as a table: what the MLflow model returns."""
        import pandas as pd

        return pd.DataFrame(self.frame(self.predict(raw), proba=proba))

    # --- on disk --------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``bundle.pt`` and ``bundle.json`` into ``folder`` (made if missing)."""
        import torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        head = _plain(
            {"format": FORMAT, "preprocessing": self.preprocessing, "record": self.record}
        )
        described = [
            _plain(
                {
                    "model": m.model,
                    "spec": m.spec.to_dict(),
                    "weight": m.weight,
                    "trial": m.trial,
                    "preprocessing": m.preprocessing,
                }
            )
            for m in self.members
        ]
        states = [{k: v.detach().cpu() for k, v in m.state.items()} for m in self.members]
        members = [{**d, "state": s} for d, s in zip(described, states, strict=True)]
        torch.save({**head, "members": members}, folder / BUNDLE_FILE)
        record = json.dumps({**head, "members": described}, indent=2)
        (folder / RECORD_FILE).write_text(record)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Bundle:
        """The bundle :meth:`save` wrote into ``folder`` (or into a folder below it)."""
        import torch

        from orchestrator.data import DataSpec

        folder = Path(folder)
        path = folder / BUNDLE_FILE
        if not path.is_file():
            found = sorted(folder.rglob(BUNDLE_FILE))
            if not found:
                raise FileNotFoundError(f"{folder}: no {BUNDLE_FILE}")
            path = found[0]
        payload = torch.load(path, map_location="cpu", weights_only=True)
        members = [
            Member(
                model=m["model"],
                spec=DataSpec.from_dict(m["spec"]),
                state=m["state"],
                weight=float(m.get("weight", 1.0)),
                trial=m.get("trial"),
                preprocessing=m.get("preprocessing"),
            )
            for m in payload["members"]
        ]
        return cls(members, payload["preprocessing"], payload.get("record") or {})

    @staticmethod
    def found_in(folder: str | Path) -> bool:
        """Whether a model folder holds a bundle (hpo's MLflow model, format 2)."""
        return any(Path(folder).rglob(BUNDLE_FILE))


def _plain(value: Any) -> Any:
    """``value`` as JSON has it: dicts, lists, strings, numbers, None (what loading with
    ``weights_only`` accepts beside tensors)."""
    return json.loads(json.dumps(value, default=str))
