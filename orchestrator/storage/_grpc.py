"""Optuna's gRPC storage proxy as hpo serves and uses it: many workers, few database connections.

``hpo storage-proxy`` runs Optuna's own proxy service (``OptunaStorageProxyService``, the service
``optuna.storages.run_grpc_proxy_server`` runs) over a database storage, in a gRPC server that hpo
builds itself so that it can stop it cleanly and serve one more service beside Optuna's: the
**budget lock**. Workers reach both through a ``grpc://host:port`` storage URL.

The budget lock serialises "count the study's trials, then ask for one" across every worker of a
study, as an advisory lock does on PostgreSQL; a lock file would not do across hosts, and Optuna's
proxy makes each storage call atomic but not the pair. A worker holds the lock for as long as its
``Hold`` call is open: ending the call, or losing the connection (the worker died: gRPC's
keep-alive notices a vanished host within about 30 s), releases it. The proxy also takes the
backend's own budget lock while a worker holds it, so workers that reach the same PostgreSQL
database directly and workers behind the proxy share one budget. A waiting worker occupies one
server thread for at most ``SERVER_WAIT_SECONDS``, then asks again, so waiters never starve the
storage calls of the worker that holds the lock.

Optuna offers no public way to add a service to its proxy or to stop it short of a signal
(``run_grpc_proxy_server`` blocks in ``wait_for_termination``), hence the two private names
imported in :func:`_proxy_service`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    import grpc
    import optuna


__all__ = [
    "CONNECT_SECONDS",
    "DEFAULT_PORT",
    "grpc_channel",
    "grpc_lock",
    "make_proxy_server",
    "open_grpc_storage",
    "parse_grpc_url",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 13000  # Optuna's own default for its proxy
CONNECT_SECONDS = 3.0  # how long a worker waits for the proxy to answer before it gives up
SERVER_THREADS = 64  # concurrent calls the proxy serves (Optuna's default is 10)
SERVER_WAIT_SECONDS = 1.0  # a waiting worker holds a server thread this long, then asks again
MAX_HOLD_SECONDS = 600.0  # a lock held longer is released (a worker stuck with it)
LOCK_METHOD = "/hpo.BudgetLock/Hold"
GRANTED, BUSY = b"granted", b"busy"
_KEEPALIVE = [  # a worker's host that vanished frees its lock within ~30 s
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]
_warned_unlocked: set[str] = set()


def parse_grpc_url(url: str, source: str) -> tuple[str, int]:
    """``grpc://host[:port]`` -> (host, port); the port defaults to 13000.

    Raises:
        ConfigError: no host, a bad port, or a path, query or credentials in the URL.
    """
    from orchestrator.redact import redact_url

    form = "grpc://HOST:PORT, e.g. grpc://127.0.0.1:13000 (the address `hpo storage-proxy` prints)"
    shown = redact_url(url) or url
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ConfigError(
            f"{source} {shown}: not a valid gRPC address ({exc}); give {form}"
        ) from exc
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.username:
        raise ConfigError(f"{source} {shown}: give only a host and a port: {form}")
    return parts.hostname, port


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_grpc_storage(url: str, source: str, *, what: str) -> optuna.storages.BaseStorage:
    """Optuna's ``GrpcStorageProxy`` on the proxy of ``url``, once the proxy answers.

    Raises:
        ConfigError: nothing answers there within ``CONNECT_SECONDS`` (exit 2), naming ``what``
            (the option and the URL) and the fix.
    """
    try:
        import grpc  # noqa: F401  (Optuna imports it lazily: say the package here)
    except ImportError as exc:
        raise ConfigError(
            f"{what}: a grpc:// storage needs the package 'grpcio'; install it with: "
            "pip install grpcio"
        ) from exc
    import optuna

    host, port = parse_grpc_url(url, source)
    with warnings.catch_warnings():  # "GrpcStorageProxy is experimental": said in the docs
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        storage.wait_server_ready(timeout=CONNECT_SECONDS)
    except ConnectionError as exc:
        storage.close()
        raise ConfigError(
            f"{what}: nothing answers there (waited {CONNECT_SECONDS:.0f} s); start the proxy "
            f"on that host with: hpo storage-proxy --storage postgresql://... --port {port}"
        ) from exc
    return storage


def grpc_channel(url: str, source: str) -> grpc.Channel:
    """A channel to the proxy of ``url``, for the budget lock (the storage keeps its own)."""
    import grpc

    return grpc.insecure_channel(_target(*parse_grpc_url(url, source)))


def grpc_lock(channel: grpc.Channel, name: str, *, what: str) -> ContextManager[None]:
    """The budget lock of study ``name``, held through the proxy on ``channel``."""
    return _held(channel, name, what=what)


@contextlib.contextmanager
def _held(channel: grpc.Channel, name: str, *, what: str) -> Iterator[None]:
    import grpc

    hold = channel.unary_stream(LOCK_METHOD)
    call = None
    while call is None:
        attempt = hold(name.encode(), wait_for_ready=False)
        try:
            reply = next(attempt, BUSY)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:  # Optuna's own proxy: no lock service
                if what not in _warned_unlocked:
                    _warned_unlocked.add(what)
                    logger.warning(
                        "%s is not hpo's storage proxy (no budget lock): workers counting at "
                        "the same moment may overshoot the study's budget; run hpo "
                        "storage-proxy instead",
                        what,
                    )
                break
            raise ConfigError(
                f"{what}: the storage proxy stopped answering ({code.name}); start it again "
                "with hpo storage-proxy, then run the same command to resume"
            ) from exc
        if reply == GRANTED:
            call = attempt
        else:  # busy: another worker holds it; ask again shortly
            attempt.cancel()
            time.sleep(random.uniform(0.001, 0.02))
    try:
        yield
    finally:
        if call is not None:
            call.cancel()


class _LockService:
    """The server side of the budget lock: one lock per study name, tied to an open call."""

    def __init__(self, backend_lock: Callable[[str], ContextManager[None]]) -> None:
        self._backend_lock = backend_lock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def hold(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        name = request.decode()
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=SERVER_WAIT_SECONDS):
            yield BUSY
            return
        try:
            ended = threading.Event()
            if not context.add_callback(ended.set):  # the call ended already
                return
            with self._backend_lock(name):
                yield GRANTED
                if not ended.wait(MAX_HOLD_SECONDS):
                    logger.warning(
                        "budget lock of study %r held %.0f s: released", name, MAX_HOLD_SECONDS
                    )
        finally:
            lock.release()


def _proxy_service(storage: optuna.storages.BaseStorage, server: grpc.Server) -> None:
    """Add Optuna's own proxy service over ``storage`` to ``server`` (what Optuna's
    ``run_grpc_proxy_server`` does, with a server hpo can stop and extend)."""
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(storage), server)


def make_proxy_server(
    storage: optuna.storages.BaseStorage,
    *,
    host: str,
    port: int,
    backend_lock: Callable[[str], ContextManager[None]],
    threads: int = SERVER_THREADS,
) -> grpc.Server:
    """A gRPC server (not started) serving Optuna's storage proxy over ``storage`` and hpo's
    budget lock, which also takes ``backend_lock(study_name)`` while a worker holds it.

    Raises:
        ConfigError: ``host:port`` cannot be bound (in use, or not an address of this machine).
    """
    import grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=threads), options=_KEEPALIVE)
    _proxy_service(storage, server)
    service = _LockService(backend_lock)
    handler = grpc.method_handlers_generic_handler(
        "hpo.BudgetLock", {"Hold": grpc.unary_stream_rpc_method_handler(service.hold)}
    )
    server.add_generic_rpc_handlers((handler,))
    try:
        bound = server.add_insecure_port(_target(host, port))
    except RuntimeError as exc:
        bound, reason = 0, f" ({exc})"
    else:
        reason = ""
    if not bound:
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there{reason}; the port is in use or "
            "the address is not one of this machine's"
        )
    return server
