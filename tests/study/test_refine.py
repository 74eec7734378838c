"""orchestrator/study/_refine.py and `hpo refine`: a narrower space from a finished study."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.space import parse_space_dict
from orchestrator.study._refine import _narrow, refine_space

SPACE = """\
study: {name: wide, n_trials: 12, seed: 0, sampler: random, pruner: none, metric: val_accuracy}
data: {name: iris}
model:
  family: mlp
  depth: {type: int, low: 1, high: 2}
  layers: {repeat: depth, width: {type: int, low: 4, high: 64, log: true}}
  activation: {type: categorical, choices: [relu, tanh, gelu]}
train:
  epochs: 2
  batch_size: 32
  optimizer:
    type: categorical
    choices:
      adam: {lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}}
      sgd: {lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}}
"""


def _spec(**fields: object) -> object:
    from orchestrator.space import ParamSpec

    return ParamSpec(name="p", path="p", **fields)  # type: ignore[arg-type]


def test_a_numeric_range_becomes_the_best_trials_span_padded() -> None:
    # linear: 10% of the span each side, kept inside the old range
    entry, why = _narrow(_spec(type="float", low=0.0, high=1.0), [0.2, 0.4], winner=0.2,
                         importance=0.5)  # fmt: skip
    assert entry == {"type": "float", "low": 0.18, "high": 0.42} and "padded 10%" in why
    # log: padded in log space
    entry, _ = _narrow(
        _spec(type="float", low=1e-5, high=1.0, log=True), [1e-3, 1e-1], winner=1e-3,
        importance=0.5,
    )  # fmt: skip
    assert entry["log"] is True
    assert entry["low"] == pytest.approx(10**-3.2, rel=1e-3)
    assert entry["high"] == pytest.approx(10**-0.8, rel=1e-3)
    # int: whole numbers, never outside the old range
    entry, _ = _narrow(_spec(type="int", low=1, high=8), [7, 8], winner=8, importance=0.5)
    assert entry == {"type": "int", "low": 6, "high": 8}


def test_choices_are_cut_and_unimportant_parameters_fixed() -> None:
    spec = _spec(type="categorical", choices=("relu", "tanh", "gelu"))
    entry, _ = _narrow(spec, ["relu", "gelu", "relu"], winner="relu", importance=0.5)
    assert entry == {"type": "categorical", "choices": ["relu", "gelu"]}
    value, why = _narrow(spec, ["tanh", "tanh"], winner="tanh", importance=0.5)
    assert value == "tanh" and "all chose it" in why
    # rated unimportant: the best trial's value, floats to 4 significant digits
    value, why = _narrow(
        _spec(type="float", low=0.0, high=1.0), [0.1, 0.9], winner=0.123456, importance=0.001
    )
    assert value == 0.1235 and "importance 0.1%" in why
    # nothing to narrow
    assert _narrow(spec, ["relu", "tanh", "gelu"], winner="relu", importance=0.5) is None


def test_refine_writes_a_valid_space_that_warm_starts_from_its_parent(workdir: Path) -> None:
    from tests.tasks.conftest import invoke

    (workdir / "wide.yaml").write_text(SPACE)
    invoke(workdir, "run", "--space", "wide.yaml")
    out = invoke(workdir, "refine", "--study", "wide", "--out", "narrowed.yaml")
    assert "Wrote narrowed.yaml" in out and "Run it: hpo run --space narrowed.yaml" in out
    text = (workdir / "narrowed.yaml").read_text()
    # the header says each change and why, and the file is a space hpo takes
    assert text.startswith("# Refined from study 'wide' by hpo refine: its best 3 trials")
    raw = yaml.safe_load(text)
    space = parse_space_dict(raw, source="narrowed.yaml")
    assert raw["study"]["name"] == "wide-refined"
    assert raw["study"]["warm_start"] == {"study": "wide", "top": 3}
    # every sampled value of the best trials still fits the new space
    from orchestrator.study import load_study

    parent = load_study("wide", storage="mlruns/optuna.journal")
    refined = refine_space(parent)
    specs = {p.name: p for p in space.parameters()}
    for trial in (t for t in parent.trials if t.number in refined.top):
        for name, value in trial.params.items():
            spec = specs.get(name)
            if spec is not None and spec.type != "categorical":
                assert spec.low <= value <= spec.high
    # the new study queues the parent's best trials that fit it, then searches
    run = invoke(workdir, "run", "--space", "narrowed.yaml", "--n-trials", "4")
    assert "warm start: queued" in run
    child = load_study("wide-refined", storage="mlruns/optuna.journal")
    sources = [t.user_attrs.get("hpo.warm_start_from") for t in child.trials]
    assert any(s and s.startswith("wide#") for s in sources)


def test_refine_needs_finished_trials(workdir: Path) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli
    from tests.tasks.conftest import invoke

    (workdir / "wide.yaml").write_text(SPACE)
    invoke(workdir, "run", "--space", "wide.yaml", "--n-trials", "2")
    result = CliRunner().invoke(cli, ["refine", "--study", "wide", "--out", "n.yaml"])
    assert result.exit_code == 1
    assert "has 2 completed trials; refining follows its best ones and needs at least 3" in (
        result.output
    )


def test_a_missing_warm_start_study_is_named(workdir: Path) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli

    raw = yaml.safe_load(SPACE)
    raw["study"]["warm_start"] = {"study": "gone"}
    (workdir / "w.yaml").write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["run", "--space", "w.yaml"])
    assert result.exit_code == 2
    assert "w.yaml: study.warm_start.study: the study to warm-start from is missing: no study " \
        "named 'gone'" in result.output  # fmt: skip
