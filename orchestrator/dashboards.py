"""The web UIs over the stores: MLflow's (``hpo ui``) and optuna-dashboard (``hpo dashboard``).

Neither has authentication, so both bind to 127.0.0.1 unless asked otherwise: any other address
needs ``allow_remote`` (the CLI's ``--allow-remote``), and the CLI then prints a warning. Both check
the ``Host`` header of every request against the names the server is reached by (MLflow with its
own ``--allowed-hosts``; optuna-dashboard, which has no such check, behind :func:`host_guard`), so
that a web page cannot reach them through DNS rebinding.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from orchestrator.errors import ConfigError

__all__ = [
    "allowed_hosts",
    "check_bind",
    "dashboard_app",
    "host_guard",
    "is_loopback",
    "mlflow_server_command",
    "serve_dashboard",
    "study_page",
]

logger = logging.getLogger(__name__)

LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"  # what `mlflow server --backend-store-uri` reads


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool, what: str) -> str | None:
    """Refuse a non-loopback address unless ``allow_remote``; then return the warning to show.

    Raises:
        ConfigError: a non-loopback ``host`` without ``allow_remote``.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ConfigError(
            f"--host {host}: {what} has no authentication, and this address would open it to "
            "the network; bind to 127.0.0.1 (the default) and use an SSH tunnel, or add "
            "--allow-remote to do it anyway"
        )
    return (
        f"Warning: {what} on {host} is reachable from the network without authentication; "
        "anyone who can reach this machine can read (and change) your studies."
    )


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> list[str]:
    """The ``Host`` headers a server on ``host:port`` accepts, each with and without the port:
    its own name; for a loopback address the local names; for a wildcard address (0.0.0.0, ::)
    the local names and the machine's names and addresses; and the ``extra`` names."""
    names: list[str] = []
    wildcard = host in ("0.0.0.0", "::", "")
    if is_loopback(host) or wildcard:
        names += list(LOCAL_NAMES)
    if not is_loopback(host) and not wildcard:
        names.append(f"[{host}]" if ":" in host else host)
    if wildcard:
        names += _machine_names()
    names += [e.strip() for e in extra if e.strip()]
    out: list[str] = []
    for name in names:
        tail = name.rsplit("]", 1)[-1]  # what follows an IPv6 address in brackets
        for value in (name,) if ":" in tail else (name, f"{name}:{port}"):
            if value not in out:
                out.append(value)
    return out


def _machine_names() -> list[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):  # a name that does not resolve: its names will do
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    return sorted(n for n in names if n)


def mlflow_server_command(
    *,
    host: str,
    port: int,
    tracking_uri: str | None,
    hosts: Sequence[str],
    workers: int = 1,
) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow server`` command line and environment for ``hpo ui``.

    The tracking store's URI, which may hold a password, goes into the environment
    (``MLFLOW_BACKEND_STORE_URI``, the variable MLflow's ``--backend-store-uri`` reads), never
    onto the command line, which every user of the machine can read with ``ps``.
    MLflow's own host-header check stays on with exactly ``hosts`` allowed; its background job
    runner is off (FACTS.md: 7 processes and ~2 GB saved); one worker process by default, not
    MLflow's 4 (each imports all of MLflow: 4x the start-up time, for one person's browser).
    """
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port)]
    command += ["--allowed-hosts", ",".join(hosts), "--workers", str(workers)]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # MLflow's own deprecation notices at start-up say nothing a user of hpo ui can act on
    quiet = "ignore::DeprecationWarning,ignore::FutureWarning"
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), quiet]))
    if tracking_uri:
        env[BACKEND_STORE_ENV] = tracking_uri
    env.pop("MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", None)
    return command, env


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def host_guard(app: WSGIApp, hosts: Sequence[str]) -> WSGIApp:
    """Wrap a WSGI app so that a request whose ``Host`` header is not in ``hosts`` (patterns
    with ``*`` allowed) gets 403, as MLflow's own check answers. Names are compared whole and
    without case; brackets are literal (an IPv6 Host header arrives as ``[::1]:8080``)."""
    allowed = [_host_pattern(h) for h in hosts]

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST", "")).lower()
        if not host or not any(pattern.fullmatch(host) for pattern in allowed):
            body = b"Invalid Host header\n"
            start_response(
                "403 Forbidden",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return guarded


def _host_pattern(name: str) -> re.Pattern[str]:
    """A Host name to match: ``*`` matches any run of characters, everything else itself (not
    fnmatch's syntax, in which ``[::1]`` is a set of two characters)."""
    return re.compile(".*".join(re.escape(part) for part in name.lower().split("*")))


def dashboard_app(storage: str | None, *, hosts: Sequence[str]) -> WSGIApp:
    """optuna-dashboard's WSGI app over the study storage, behind :func:`host_guard`.

    Raises:
        ConfigError: optuna-dashboard is not installed.
    """
    try:
        import optuna_dashboard
    except ImportError as exc:
        raise ConfigError(
            "hpo dashboard needs optuna-dashboard; install it with: pip install optuna-dashboard"
        ) from exc
    from orchestrator.storage import open_storage

    return host_guard(optuna_dashboard.wsgi(open_storage(storage)), hosts)


def study_page(name: str, *, storage: str | None) -> str:
    """The path of a study's page under optuna-dashboard's ``/dashboard/``, e.g. ``studies/3``.

    Raises:
        StudyError: no such study.
    """
    from orchestrator.storage import open_storage
    from orchestrator.study import load_study

    load_study(name, storage=storage)  # a clear error, listing the studies, if it is missing
    return f"studies/{open_storage(storage).get_study_id_from_name(name)}"


def serve_dashboard(
    storage: str | None,
    *,
    host: str,
    port: int,
    hosts: Sequence[str],
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve optuna-dashboard until SIGTERM or SIGINT (threaded wsgiref, requests logged at
    DEBUG); the socket is closed on the way out.

    Raises:
        ConfigError: the address cannot be bound (in use, or not an address of this machine).
        ServerStopped: a signal stopped it (which one: its ``signum``).
    """
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from orchestrator.servers import stopping_on_signals

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.address_string(), *args)

    app = dashboard_app(storage, hosts=hosts)
    try:
        server = make_server(host, port, app, server_class=Server, handler_class=QuietHandler)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc})") from exc
    with server, stopping_on_signals():
        if ready is not None:
            ready()
        server.serve_forever()
