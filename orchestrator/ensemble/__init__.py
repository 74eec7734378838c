"""Ensembles of a study's best trials (``hpo ensemble``, ``hpo run --ensemble``).

- :mod:`._select`: Caruana's ensemble selection, forward with replacement from a sorted start;
- :mod:`._build`: :func:`build_ensemble`, from the study's trials and the predictions they kept
  to a scored, logged and registered MLflow model.
"""

from __future__ import annotations

from orchestrator.ensemble._build import ATTR_ENSEMBLE, EnsembleResult, Member, build_ensemble
from orchestrator.ensemble._select import Selection, select

__all__ = ["ATTR_ENSEMBLE", "EnsembleResult", "Member", "Selection", "build_ensemble", "select"]
