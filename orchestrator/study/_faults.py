"""Whose fault it is: the failure classes of what can go wrong inside a trial.

- The user's code (the model, its data transform, loss or metrics) raising while a trial's model
  is built, trained or evaluated: the trial FAILs (``error``, with its traceback kept) and the
  study goes on; :func:`user_code` marks that region.
- A store (the Optuna storage, MLflow's tracking or artifact store) failing: not the
  configuration's fault; the trial FAILs as ``store``, is queued again and does not use up the
  budget; :func:`store_call` marks each call to a store.
- Anything else is a bug of hpo's, and stops the run.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

from orchestrator.errors import HpoError, StoreError, TrialFailure, first_line
from orchestrator.redact import redact_text

__all__ = ["MLFLOW", "OPTUNA", "store_call", "traceback_text", "user_code"]

MLFLOW = "MLflow"
OPTUNA = "the Optuna storage"


@contextlib.contextmanager
def store_call(store: str) -> Iterator[None]:
    """A call to ``store``: any error it raises becomes a :class:`StoreError` (hpo's own errors,
    already worded, pass unchanged)."""
    try:
        yield
    except HpoError:
        raise
    except Exception as exc:
        raise StoreError.of(store, exc) from exc


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    """Building, training and evaluating one trial's model: an exception raised there fails the
    trial (``error``, its first line as the reason), not the run. Pruning, a stop, a store fault
    and hpo's own trial failures pass unchanged."""
    import optuna

    try:
        yield
    except (HpoError, optuna.TrialPruned):
        raise
    except Exception as exc:
        raise TrialFailure(f"error: {first_line(exc, with_type=True)}", kind="error") from exc


def traceback_text(exc: BaseException) -> str:
    """The full traceback of ``exc`` and its causes, with every URL's secret redacted."""
    return redact_text("".join(traceback.format_exception(exc)))
