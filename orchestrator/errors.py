"""Every exception hpo raises on purpose, under one base class.

The CLI catches :class:`HpoError`, prints its one-line message and exits with
``exit_code`` (2 for bad input, 1 for a runtime failure); ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.redact import redact_text

__all__ = [
    "ConfigError",
    "DataError",
    "HpoError",
    "Problem",
    "SpaceError",
    "StoreError",
    "StudyError",
    "StudyNotFound",
    "TrialFailure",
    "closest",
    "first_line",
]


class HpoError(Exception):
    """Base of every error hpo raises on purpose."""

    exit_code: int = 1


class ConfigError(HpoError):
    """Bad input from the command line or the environment (a device, a duration, a URL)."""

    exit_code = 2


class DataError(HpoError):
    """Data that cannot be loaded or does not fit the task: reported before any trial runs."""

    exit_code = 2


class StudyError(HpoError):
    """A study that cannot be created or resumed as asked."""

    exit_code = 1


class StudyNotFound(StudyError):
    """A study named on the command line that the storage does not hold: bad input."""

    exit_code = 2


class StoreError(HpoError):
    """A store failed while a run used it: the Optuna storage, the MLflow tracking store or its
    artifact store. Not the fault of the configuration being tried: a trial that meets one is
    queued again, and repeated faults stop the run.

    Attributes:
        store: which store failed, in words (``MLflow``, ``the Optuna storage``).
    """

    exit_code = 1

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store

    @classmethod
    def of(cls, store: str, exc: BaseException) -> StoreError:
        """``store``'s error ``exc`` in one line: ``MLflow: OSError: [Errno 30] ...``, redacted."""
        return cls(f"{store}: {redact_text(first_line(exc, with_type=True))}", store=store)


@dataclass(frozen=True)
class Problem:
    """One problem in a search-space file: where it is and what to do about it."""

    path: str  # dotted path inside the file, e.g. "train.optimizer.lr"
    message: str  # the value received, the rule and the fix

    def format(self, source: str) -> str:
        where = f"{source}: {self.path}" if self.path else source
        return f"{where}: {self.message}"


class SpaceError(HpoError):
    """A search-space file with one or more problems; carries all of them."""

    exit_code = 2

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.format(source) for p in self.problems))


class TrialFailure(HpoError):
    """An expected failure of one trial (NaN loss, out of memory, an impossible shape).

    The trial ends FAIL with ``reason`` recorded, and the study goes on. ``kind`` is the failure
    class used for tags and retry policies: ``nan``, ``oom``, ``timeout``, ``stale`` or ``error``.
    """

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """The first non-empty line of an exception's message; its type name when it has none.

    ``with_type=True`` gives ``ValueError: bad shape``, for a reason that must name the error.
    """
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    if with_type:
        return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return line or type(exc).__name__


def closest(
    word: object, names: Sequence[str], *, synonyms: Mapping[str, str] | None = None
) -> str | None:
    """The valid name a misspelt ``word`` most likely meant (for "did you mean ...?"), or None.

    ``synonyms`` maps words of other tools to ours (``max`` -> ``high``) before spelling is tried;
    a word that starts a name (``val_acc``) means the shortest name it starts.
    """
    text = str(word)
    if synonyms and synonyms.get(text) in names:
        return synonyms[text]
    started = sorted((n for n in names if n.startswith(text) and len(text) >= 3), key=len)
    if started:  # a name cut short: val_acc is val_accuracy
        return started[0]
    match = difflib.get_close_matches(text, list(names), n=1, cutoff=0.6)
    return match[0] if match else None
