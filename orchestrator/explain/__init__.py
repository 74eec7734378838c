"""Explaining a trained network: what it looks at, and where it is most wrong, as pictures.

- :mod:`._run`: :func:`explain`, the study's best trial (or another) on its test split, logged as
  ``explain/`` on its MLflow run;
- :mod:`._attribute`: Captum's integrated gradients, Grad-CAM and layer integrated gradients;
- :mod:`._importance`: scikit-learn's permutation importance, one value per original column;
- :mod:`._pictures`: the PNGs; :mod:`._tokens`: token ids back into words.

Importing this package is cheap: torch, Captum, scikit-learn and matplotlib are imported where
they are used.
"""

from __future__ import annotations

from orchestrator.explain._importance import ColumnImportance
from orchestrator.explain._run import ARTIFACT_DIR, ATTR_EXPLAIN, SAMPLES, Explanation, explain

__all__ = ["ARTIFACT_DIR", "ATTR_EXPLAIN", "SAMPLES", "ColumnImportance", "Explanation", "explain"]
