"""hpo: hyperparameter search for PyTorch models with Optuna and MLflow.

The names to script against, importable from here (each is imported on first use, so that
``import orchestrator`` stays instant)::

    from orchestrator import load_space, run_study, get_best

    space = load_space("search_spaces/cnn.yaml", overrides=["train.epochs=2"])
    result = run_study(space, n_trials=10)  # the study's total, as `hpo run --n-trials`
    print(result.best_value, get_best(result.study_name)["params"])

The command line (``hpo``) is a thin layer over these; where things live is in the README.
"""

from __future__ import annotations

import importlib
from typing import Any

from orchestrator.version import __version__

# public name -> the package that holds it
_EXPORTS = {
    "HpoError": "orchestrator.errors",
    "load_space": "orchestrator.space",
    "parse_space": "orchestrator.space",
    "RunSpec": "orchestrator.study",
    "StopRequest": "orchestrator.study",
    "StudyStore": "orchestrator.study",
    "get_best": "orchestrator.study",
    "list_studies": "orchestrator.study",
    "load_study": "orchestrator.study",
    "preflight": "orchestrator.study",
    "repair_study": "orchestrator.study",
    "run_parallel": "orchestrator.study",
    "run_study": "orchestrator.study",
    "build_report": "orchestrator.report",
    "leaderboard": "orchestrator.report",
    "load_study_data": "orchestrator.report",
    "retrain": "orchestrator.retrain",
    "predict": "orchestrator.predict",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
