"""hpo's version (also in pyproject.toml); importing it costs nothing."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
