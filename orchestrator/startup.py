"""A command's start-up without Python's cyclic garbage collector: :func:`pause_gc` when the
command starts (:func:`gc_paused_at_start`), :func:`resume_gc` once its run is set up (before
the first trial).

Starting a run imports torch, scikit-learn, optuna and mlflow and builds the stores: half a
million Python objects, almost none of them garbage. The collector's full passes scan every one,
and the imports alone set off eight of them: 0.7-1.0 s of a 3.5 s start-up (gc.callbacks timing
``hpo run`` of the digits CNN on this machine's 2 cores). Paused, they do not run; resumed, the
objects start-up made are frozen (:func:`gc.freeze`: kept out of every later pass, as CPython
suggests after start-up), so the passes during the trials scan only what the trials make.
Reference counting frees what is not in a cycle throughout.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["gc_paused_at_start", "pause_gc", "resume_gc"]

P = ParamSpec("P")
R = TypeVar("R")

_paused = False  # this module turned the collector off (a user's own gc.disable() is left be)


def pause_gc() -> None:
    """Turn the cyclic garbage collector off until :func:`resume_gc` (if it is on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """Freeze what start-up made and turn the collector back on, if :func:`pause_gc` turned it
    off; otherwise nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def gc_paused_at_start(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: the collector paused from its start until its run is set up (the
    study loop calls :func:`resume_gc`), and resumed when it returns or raises in any case."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        pause_gc()
        try:
            return command(*args, **kwargs)
        finally:
            resume_gc()

    return wrapper
