"""Explaining a trained network: what it looks at, and where it is most wrong, as pictures.

- :mod:`._run`: :func:`explain`, the study's best trial (or another) on its test split, logged as
  ``explain/`` on its MLflow run;
- :mod:`._attribute`: Captum's integrated gradients, Grad-CAM and layer integrated gradients;
- :mod:`._importance`: scikit-learn's permutation importance, one value per original column;
- :mod:`._pictures`: the PNGs; :mod:`._tokens`: token ids back into words.

Importing this package is cheap: its names and defaults (:mod:`._names`) come at once, the rest
on first use; torch, Captum, scikit-learn and matplotlib are imported where they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestrator.explain._names import ARTIFACT_DIR, ATTR_EXPLAIN, SAMPLES

if TYPE_CHECKING:
    from orchestrator.explain._importance import ColumnImportance
    from orchestrator.explain._result import Explanation
    from orchestrator.explain._run import explain

__all__ = ["ARTIFACT_DIR", "ATTR_EXPLAIN", "SAMPLES", "ColumnImportance", "Explanation", "explain"]

_LATER = {  # name -> the module that defines it, imported on first use
    "ColumnImportance": "orchestrator.explain._importance",
    "Explanation": "orchestrator.explain._result",
    "explain": "orchestrator.explain._run",
}


def __getattr__(name: str) -> object:
    if name in _LATER:
        return getattr(importlib.import_module(_LATER[name]), name)
    raise AttributeError(f"module 'orchestrator.explain' has no attribute {name!r}")
