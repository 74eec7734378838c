"""`hpo storage-proxy`: Optuna's gRPC storage proxy in front of the study database."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import Any

import click

from orchestrator.cli._errors import EXIT_INTERRUPT, EXIT_TERMINATED, handle_errors
from orchestrator.cli._options import bind_options, storage_option

GRACE_SECONDS = 5.0  # calls in flight get this long to finish on Ctrl-C or SIGTERM


@click.command("storage-proxy")
@bind_options(port=13000, host_headers=False)
@storage_option
@handle_errors
def storage_proxy(host: str, port: int, allow_remote: bool, storage: Any) -> None:
    """Serve the study database to many workers through Optuna's gRPC storage proxy.

    Workers then pass --storage grpc://HOST:PORT (the address printed) instead of the database
    URL: hundreds of them share this process's few database connections and its cache of the
    study, and the budget lock served beside it keeps a study's total of trials exact. The
    database URL (--storage or HPO_STORAGE) stays here; its password never reaches the workers.

    It binds to 127.0.0.1 unless --allow-remote is given: the proxy has no authentication nor
    encryption, so expose it only on a network you trust (or reach it through an SSH tunnel).
    """
    from orchestrator.dashboards import check_bind
    from orchestrator.storage import start_storage_proxy
    from orchestrator.study import Terminated

    warning = check_bind(host, allow_remote=allow_remote, what="the storage proxy")
    if warning:
        click.echo(warning, err=True)
    code, server = 0, None
    try:  # a signal from the first moment on stops it as cleanly as later
        with _stopped_by_signals(Terminated):
            server = start_storage_proxy(storage, host=host, port=port)
            address = socket.getfqdn() if host in ("0.0.0.0", "::", "") else host
            address = f"[{address}]" if ":" in address else address
            click.echo(f"Optuna storage proxy for {storage.display} (Ctrl-C to stop)")
            click.echo(f"Workers: --storage grpc://{address}:{port}")
            server.wait_for_termination()
    except Terminated:  # first: it is a KeyboardInterrupt too
        code = EXIT_TERMINATED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPT
    finally:
        if server is not None:
            server.stop(GRACE_SECONDS).wait()
    click.echo("\nStopped.", err=True)
    raise SystemExit(code)


@contextlib.contextmanager
def _stopped_by_signals(exc_type: type[BaseException]) -> Iterator[None]:
    """SIGTERM raises ``exc_type`` in the main thread, and SIGINT KeyboardInterrupt, whatever
    this process inherited: a shell's background job starts with SIGINT ignored, and Python
    then installs no Ctrl-C handler of its own (``hpo run`` sets its handlers the same way)."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise exc_type()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
