"""The values a search space is made of: the public ``Space``, ``ParamSpec`` and ``TrialConfig``,
and the validated node tree that the builder makes and ``suggest`` walks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from orchestrator.config import DataConfig, StudyConfig, TrainConfig
from orchestrator.errors import Problem, SpaceError
from orchestrator.space._messages import _plain
from orchestrator.space._yaml import _blame, _Override

if TYPE_CHECKING:
    from orchestrator.data import DataSpec
    from orchestrator.tasks import Task


class TrialLike(Protocol):
    """What :func:`suggest` needs from a trial: ``optuna.Trial`` and ``FixedTrial`` both fit."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


# --- public values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One search parameter: one ``suggest_*`` call under its dotted Optuna name."""

    name: str  # dotted Optuna name, e.g. "train.optimizer.sgd.lr"
    type: Literal["float", "int", "categorical"]
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None  # None: continuous (float) or 1 (int)
    log: bool = False
    choices: tuple[Any, ...] = ()
    condition: str | None = None  # when it is suggested, e.g. "train.optimizer == sgd"
    # its place in the file: "train.optimizer.choices.sgd.lr"; the layers of a per-layer
    # setting share one ("model.blocks.channels" for model.blocks.0.channels, ...)
    path: str = ""

    def describe(self) -> str:
        """The distribution in a few words: ``float [1e-05, 0.1] log``, ``int [16, 64] step 8``."""
        if self.type == "categorical":
            return f"categorical [{', '.join(_plain(c) for c in self.choices)}]"
        text = f"{self.type} [{self.low!r}, {self.high!r}]"
        if self.step is not None:
            text += f" step {self.step!r}"
        if self.log:
            text += " log"
        return text


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial runs with, every search parameter sampled and validated."""

    data: DataConfig
    model: BaseModel  # the family's Config instance (has .family)
    train: TrainConfig
    params: dict[str, Any] = field(default_factory=dict)  # sampled values, dotted Optuna names

    def to_dict(self) -> dict[str, Any]:
        """The whole resolved config, JSON-serialisable (the ``trial_config.json`` artifact)."""
        return {
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json"),
            "train": self.train.model_dump(mode="json"),
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TrialConfig:
        """The config :meth:`to_dict` recorded (a trial's, read back from the study).

        Raises:
            ValueError: an unknown model family; pydantic.ValidationError for settings that no
                longer validate.
        """
        from orchestrator.models import parse_model_config

        return cls(
            data=DataConfig.model_validate(record["data"]),
            model=parse_model_config(record["model"]),
            train=TrainConfig.model_validate(record["train"]),
            params=dict(record.get("params") or {}),
        )


# --- the validated tree --------------------------------------------------------------------------
# A space is a tree of nodes built once by _Builder; suggest() walks it with a trial.


@dataclass(frozen=True)
class _Fixed:
    value: Any
    name: str  # dotted name for fixed_params()
    listed: bool = True  # False for a branch's own name, which the branch choice already records


@dataclass(frozen=True)
class _Param:
    spec: ParamSpec


@dataclass(frozen=True)
class _Group:
    fields: dict[str, _Node]  # file order


@dataclass(frozen=True)
class _Branch:
    spec: ParamSpec  # the categorical choice between branch names
    choices: dict[str, _Group]  # each holds its `name` and its own sub-parameters


@dataclass(frozen=True)
class _Repeat:
    count: str  # the sibling key holding the number of layers
    template: _Group  # the per-layer mapping, named without an index (fixed_params)
    layers: tuple[_Group, ...]  # one per possible layer index, each with its own names


@dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Invalid:
    """Stands where a problem was reported; never part of a Space that parsed."""


_Node = _Fixed | _Param | _Group | _Branch | _Repeat | _List | _Invalid
_INVALID = _Invalid()


@dataclass(frozen=True)
class Space:
    """A validated search space: what ``hpo validate`` checks and ``hpo run`` samples."""

    source: str  # the file path as given, or "<string>"
    text: str  # the original YAML text (logged as an artifact)
    raw: dict[str, Any]  # the validated mapping, overrides applied and study.name filled in
    study: StudyConfig  # name filled from the file stem if missing
    _root: _Group = field(repr=False, compare=False)
    _overrides: tuple[_Override, ...] = field(default=(), repr=False, compare=False)

    @property
    def name(self) -> str:
        """The study name."""
        return self.study.name or _default_name(self.source)

    @property
    def resolved(self) -> bool:
        """Whether the objectives are known (given, or filled in by :meth:`for_task`)."""
        return self.study.metric is not None

    def for_task(self, task: Task, spec: DataSpec | None = None) -> Space:
        """This space with the study's objectives known: the task's default metric where the
        file names none, and each named one checked to be one the task scores on data of
        ``spec`` (``val_<metric>``) or one measured of the model (``n_parameters``,
        ``latency_ms``).

        Raises:
            SpaceError: a metric the task does not score, at ``study.metric``.
        """
        import dataclasses

        try:
            study = self.study.for_task(task.default_metric, task.objectives(spec), task=task.title)
        except ValueError as exc:
            raise self.error([Problem("study.metric", str(exc))]) from None
        return dataclasses.replace(self, study=study)

    @property
    def family(self) -> str:
        """The model family searched, e.g. ``"cnn"``."""
        return str(self.raw["model"]["family"])

    def parameters(self) -> list[ParamSpec]:
        """Every parameter that can ever be suggested, in file order.

        Branch choices are categorical parameters of their own; per-layer parameters are listed
        once per possible layer index.
        """
        return [node.spec for node in _walk(self._root) if isinstance(node, (_Param, _Branch))]

    def max_params_per_trial(self) -> int:
        """The most parameters one trial can sample: largest branch, every layer at max depth."""
        return _max_params(self._root)

    def branches(self) -> dict[str, list[str]]:
        """Each conditional branch point (dotted Optuna name) and its branch names."""
        return {
            node.spec.name: list(node.choices)
            for node in _walk(self._root)
            if isinstance(node, _Branch)
        }

    def error(self, problems: Sequence[Problem]) -> SpaceError:
        """The error for problems found in this space after it parsed (a sampler's options,
        a searched data setting), each blamed on the ``--set`` that wrote its place, the
        others on the file.

        Args:
            problems: each at its dotted path in the file, e.g. ``study.sampler.n_startup``.
        """
        return SpaceError(self.source, _blame(problems, self._overrides, alone=None))

    def fixed_params(self) -> dict[str, Any]:
        """Every fixed value of the file, flattened to dotted names (logged on the parent run).

        Values inside a branch carry the branch name (``train.optimizer.sgd.momentum``); values
        shared by every layer carry no index (``model.blocks.kernel_size``).
        """
        out = flatten(self.raw.get("study") or {}, "study")
        for node in _walk(self._root, templates=True):
            if isinstance(node, _Fixed) and node.listed:
                if isinstance(node.value, (dict, list)) and node.value:
                    out.update(flatten(node.value, node.name))
                else:
                    out[node.name] = node.value
        return out


def _walk(node: _Node, *, templates: bool = False) -> Iterator[_Node]:
    """Every node under ``node``, depth first in file order.

    With ``templates`` a per-layer mapping is visited once (unindexed), else once per layer.
    """
    yield node
    if isinstance(node, _Group):
        for child in node.fields.values():
            yield from _walk(child, templates=templates)
    elif isinstance(node, _Branch):
        for child in node.choices.values():
            yield from _walk(child, templates=templates)
    elif isinstance(node, _Repeat):
        for child in (node.template,) if templates else node.layers:
            yield from _walk(child, templates=templates)
    elif isinstance(node, _List):
        for child in node.items:
            yield from _walk(child, templates=templates)


def _max_params(node: _Node) -> int:
    if isinstance(node, _Param):
        return 1
    if isinstance(node, _Branch):
        return 1 + max((_max_params(c) for c in node.choices.values()), default=0)
    if isinstance(node, _Group):
        return sum(_max_params(c) for c in node.fields.values())
    if isinstance(node, _Repeat):
        return sum(_max_params(c) for c in node.layers)
    if isinstance(node, _List):
        return sum(_max_params(c) for c in node.items)
    return 0


def _searches(node: _Node) -> bool:
    """Whether anything under ``node`` is sampled."""
    return any(isinstance(n, (_Param, _Branch)) for n in _walk(node))


def _default_name(source: str) -> str:
    return "space" if source.startswith("<") else Path(source).stem


@dataclass(frozen=True)
class _At:
    """Where a node is: its place in the file (for problems) and its Optuna name."""

    path: str  # e.g. "train.optimizer.choices.sgd.lr"
    name: str  # e.g. "train.optimizer.sgd.lr"
    condition: str | None = None

    def child(self, key: Any, *, name: Any = None) -> _At:
        key = str(key)
        name = key if name is None else str(name)
        return _At(
            path=f"{self.path}.{key}" if self.path else key,
            name=f"{self.name}.{name}" if self.name else name,
            condition=self.condition,
        )


def _and(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first} and {second}"
    return first or second


# --- helpers for logging and `hpo validate` ------------------------------------------------------


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists become ``.0``, ``.1``; empty containers stay leaves.

    >>> flatten({"a": {"b": 1, "c": [2, 3]}})
    {'a.b': 1, 'a.c.0': 2, 'a.c.1': 3}
    """
    out: dict[str, Any] = {}

    def visit(value: Any, name: str) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                visit(item, f"{name}.{key}" if name else str(key))
        elif isinstance(value, (list, tuple)) and value:
            for index, item in enumerate(value):
                visit(item, f"{name}.{index}" if name else str(index))
        else:
            out[name] = value

    visit(mapping, prefix)
    return out


def describe_space(space: Space, *, task: str | None = None, note: str | None = None) -> str:
    """The ``hpo validate`` summary: the task (``note``: how ``data.task: auto`` decided it),
    parameters, branches, fixed values and the most per trial."""
    study = space.study
    lines = [f"search space '{space.name}' from {space.source}"]
    if task is not None:
        lines.append(f"  task: {task}" + (f" ({note})" if note else ""))
    if space.resolved:
        objectives = ", ".join(
            f"{d} {m}" for d, m in zip(study.directions, study.metrics, strict=True)
        )
        pruner = study.pruner.name if not study.is_multi_objective else "off (multi-objective)"
        lines.append(
            f"  study: {objectives} over {study.n_trials} trials; "
            f"sampler {study.sampler.name}, pruner {pruner}, seed {study.seed}"
        )
    lines.append(f"  model family: {space.family}")
    params = space.parameters()
    if params:
        lines.append(f"  {len(params)} search parameters:")
        width = max(len(p.name) for p in params)
        for p in params:
            condition = f"  (if {p.condition})" if p.condition else ""
            lines.append(f"    {p.name:<{width}}  {p.describe()}{condition}")
    else:
        lines.append("  no search parameters: every trial runs the same config")
    branches = space.branches()
    if branches:
        lines.append("  branches:")
        lines += [f"    {name}: {' | '.join(names)}" for name, names in branches.items()]
    lines.append(f"  {len(space.fixed_params())} fixed values")
    lines.append(f"  at most {space.max_params_per_trial()} parameters per trial")
    return "\n".join(lines)
