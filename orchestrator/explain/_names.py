"""The names and defaults of an explanation, importable without the rest of the package (the
CLI shows the default at start-up)."""

from __future__ import annotations

__all__ = ["ARTIFACT_DIR", "ATTR_EXPLAIN", "SAMPLES"]

ATTR_EXPLAIN = "hpo.explain"  # study user attr: the last explanation's summary
ARTIFACT_DIR = "explain"  # on the explained trial's MLflow run
SAMPLES = 200  # table rows attributed by default: under 60 s for the shipped spaces here
