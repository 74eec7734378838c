"""The MLflow writer: one thread makes every MLflow call of a tracker, in the order they were asked.

A trial asks for its writes (its run, parameters, tags, data set, epoch metrics, artifacts, its end)
with :meth:`Writer.later` and goes on training while the thread makes them; a read, or a call whose
answer is needed, waits with :meth:`Writer.call` behind everything asked before it, so it sees every
earlier write. One thread owns the client: nothing of MLflow is ever called from two threads.

MLflow's own asynchronous logging (``synchronous=False``) was not used: it queues metrics, params
and tags but not run creation, artifacts or ``set_terminated``, and ending a run waits for its
queue (about 1 s per run here), which a study of many short nested runs pays at every trial.

A call made later that fails is raised by the next call asked of the writer (which the tracker
turns into a :class:`~orchestrator.errors.StoreError`, like any MLflow failure) or by
:meth:`Writer.drain`; an exit drains what is queued (atexit), so only a kill loses the writes still
queued: at most the end of one trial, which a resume mends (its run closed with the trial's state).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Writer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()  # put on a writer's queue when the writer is gone: its thread ends
_LIVE: weakref.WeakSet[Writer] = weakref.WeakSet()  # drained at exit
_EXIT_LOCK = threading.Lock()
_EXIT_HANDLER: list[Callable[[], None]] = []  # registered with atexit once per process


class Writer:
    """A queue of MLflow calls and the one thread that makes them, started on first use (and again
    in a forked child, which inherits the queue but not the thread)."""

    def __init__(self, name: str = "hpo-mlflow-writer") -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._failure: BaseException | None = None  # of a call made later, not yet raised

    # --- asking ---------------------------------------------------------------------------------

    def later(self, fn: Callable[[], T], *, check: bool = True) -> Future[T]:
        """Queue ``fn()``, which nothing waits on; return its future. ``check``: first raise the
        failure of a call made earlier, if one failed (and queue nothing); with False, queue
        ``fn`` whatever failed before (the end of a run: it must be written)."""
        if check:
            self.raise_failure()
        future: Future[T] = Future()
        if self.on_thread():  # a queued call asking for more: make it now, in order
            _settle(future, fn, (), {})
            if (exc := future.exception()) is not None:
                self._fail(exc)
            return future
        self._start()
        self._queue.put((future, fn, (), {}, True))
        return future

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the writer's thread, after every call queued before it; its
        result, or its exception. A failure of a call queued earlier is raised first."""
        if self.on_thread():
            return fn(*args, **kwargs)
        self.raise_failure()
        self._start()
        future: Future[T] = Future()
        self._queue.put((future, fn, args, kwargs, False))
        return future.result()

    def drain(self) -> None:
        """Wait until every queued call is made; raise the first failure among them."""
        if self._thread is not None and self._pid == os.getpid() and not self.on_thread():
            self.call(lambda: None)
        self.raise_failure()

    def raise_failure(self) -> None:
        """Raise (once) the failure of a call made later, if one failed."""
        with self._lock:
            failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def on_thread(self) -> bool:
        """Whether the caller is the writer's thread (a queued call)."""
        return threading.current_thread() is self._thread and self._pid == os.getpid()

    # --- the thread -----------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._pid is not None:  # a forked child: what the parent had queued is its own
                self._queue = queue.SimpleQueue()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=_work, args=(self._queue, weakref.ref(self)), name=self._name, daemon=True
            )
            self._thread.start()
            # the thread ends with its writer (a tracker let go: nothing of it is left running)
            weakref.finalize(self, self._queue.put, _STOP).atexit = False
            _watch_at_exit(self)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
            else:  # only the first is raised; the others are not lost from the log
                logger.warning("MLflow write failed too: %s", exc)


def _settle(future: Future[Any], fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _work(jobs: queue.SimpleQueue[Any], owner: weakref.ref[Writer]) -> None:
    """The writer's thread: make each queued call; keep the failure of one nobody waits on; end
    when its writer is gone (only a weak reference is held here)."""
    while True:
        job = jobs.get()
        if job is _STOP:
            return
        future, fn, args, kwargs, later = job
        del job
        _settle(future, fn, args, kwargs)
        exc = future.exception() if later else None
        if exc is not None and (writer := owner()) is not None:
            writer._fail(exc)
            del writer  # the thread holds its writer only while it records a failure
        del future, fn, args, kwargs, exc


def _watch_at_exit(writer: Writer) -> None:
    """Drain ``writer`` at interpreter exit (its thread is a daemon), with every other live one:
    one exit handler for the process, whatever the number of trackers it made."""
    with _EXIT_LOCK:
        if not _EXIT_HANDLER:
            atexit.register(_drain_all_at_exit)
            _EXIT_HANDLER.append(_drain_all_at_exit)
        _LIVE.add(writer)


def _drain_all_at_exit() -> None:
    """At interpreter exit: make what is still queued on every live writer."""
    for writer in list(_LIVE):
        try:
            writer.drain()
        except Exception as exc:
            logger.warning("MLflow writes left unmade at exit: %s", exc)
