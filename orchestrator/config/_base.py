"""What every settings model shares: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["_Strict"]


class _Strict(BaseModel):
    """Unknown keys are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)
