"""`hpo ui` and `hpo dashboard`: the MLflow UI and optuna-dashboard over hpo's stores."""

from __future__ import annotations

import gc
import signal
from typing import NoReturn

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import bind_options, storage_option, tracking_option
from orchestrator.cli._output import _url_host
from orchestrator.errors import StudyNotFound
from orchestrator.servers import ServerStopped, run_server


@click.command()
@bind_options(port=5000)
@click.option(
    "--study",
    "study_name",
    metavar="NAME",
    help="Print the address of this study's runs table (MLflow's model-training view).",
)
@tracking_option
@handle_errors
def ui(
    host: str,
    port: int,
    study_name: str | None,
    allow_remote: bool,
    extra_hosts: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Open the MLflow UI over the same tracking store as `hpo run`.

    With --study NAME it prints the address of that study's runs table. It binds to 127.0.0.1
    unless --allow-remote is given, and MLflow's Host-header check stays on (the accepted names
    are printed; add others with --allowed-host). Ctrl-C or SIGTERM stops MLflow and all its
    processes (exit 130 or 143).
    """
    from orchestrator.dashboards import allowed_hosts, check_bind, mlflow_server_command

    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        _print_server_ui(tracking_uri, study_name)  # a tracking server serves its own UI
        return
    warning = check_bind(host, allow_remote=allow_remote, what="the MLflow UI")
    if warning:
        click.echo(warning, err=True)
    base = f"http://{_url_host(host)}:{port}"
    study_url = _study_runs_url(study_name, base, tracking_uri=tracking_uri) if study_name else ""
    hosts = allowed_hosts(host, port, extra_hosts)
    command, env = mlflow_server_command(
        host=host, port=port, tracking_uri=tracking_uri, hosts=hosts
    )
    click.echo(f"MLflow UI on {base} (Ctrl-C to stop)")
    if study_url:
        click.echo(f"Study '{study_name}', its runs: {study_url}")
    if not allow_remote:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}")
    else:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}; add others with --allowed-host")
    try:
        code = run_server(command, env=env)
    except ServerStopped as stopped:
        _stopped(stopped)
    raise SystemExit(code)


def _study_runs_url(study_name: str, base: str, *, tracking_uri: str | None) -> str:
    """The runs table of a study on the UI at ``base``; StudyNotFound (exit 2) if MLflow has no
    experiment of that name."""
    from orchestrator.redact import redact_text
    from orchestrator.tracking import (
        default_tracking_uri,
        experiment_id_of,
        has_trials_view,
        runs_table_url,
        study_objective,
    )

    experiment_id = experiment_id_of(study_name, tracking_uri=tracking_uri)
    if experiment_id is None:
        uri = redact_text(tracking_uri or default_tracking_uri())
        raise StudyNotFound(
            f"--study {study_name}: no MLflow experiment of that name in {uri} (hpo run logs a "
            "study to the experiment named after it); check --study and --tracking-uri"
        )
    if has_trials_view(study_name, tracking_uri=tracking_uri):
        return runs_table_url(base, experiment_id, view=True)
    objective = study_objective(study_name, tracking_uri=tracking_uri)
    metric, minimize = objective if objective is not None else (None, False)
    return runs_table_url(base, experiment_id, metric=metric, minimize=minimize)


def _print_server_ui(tracking_uri: str, study_name: str | None) -> None:
    """For a tracking server: no server to start, its own UI's address (and the study's runs)."""
    from orchestrator.tracking import ui_base

    base = ui_base(tracking_uri)
    click.echo(f"The tracking URI is a tracking server, which serves its own MLflow UI: {base}")
    if study_name:
        url = _study_runs_url(study_name, base, tracking_uri=tracking_uri)
        click.echo(f"Study '{study_name}', its runs: {url}")


def _stopped(stopped: ServerStopped) -> NoReturn:
    """A server stopped by a signal: one line, and the shell's exit code (143 or 130)."""
    click.echo(f"\nStopped ({signal.Signals(stopped.signum).name}).", err=True)
    # nothing is left to clean up: spare the exit the last garbage collection over every object
    # of MLflow's and Optuna's modules (measured: 4 s after `import mlflow` on a loaded machine,
    # 0.3 s with this)
    gc.freeze()
    raise SystemExit(stopped.exit_code)


@click.command()
@bind_options(port=8080)
@click.option("--study", "study_name", metavar="NAME", help="Print the address of this study.")
@storage_option
@handle_errors
def dashboard(
    host: str,
    port: int,
    study_name: str | None,
    allow_remote: bool,
    extra_hosts: tuple[str, ...],
    storage: str | None,
) -> None:
    """Serve optuna-dashboard over the study storage: history, importances, Pareto front, live.

    It binds to 127.0.0.1 unless --allow-remote is given, and refuses requests whose Host header
    is not one of the accepted names (add others with --allowed-host). Ctrl-C or SIGTERM stops it
    (exit 130 or 143).
    """
    from orchestrator.dashboards import allowed_hosts, check_bind, serve_dashboard, study_page

    warning = check_bind(host, allow_remote=allow_remote, what="optuna-dashboard")
    if warning:
        click.echo(warning, err=True)
    page = study_page(study_name, storage=storage) if study_name else ""
    hosts = allowed_hosts(host, port, extra_hosts)
    url = f"http://{_url_host(host)}:{port}/dashboard/{page}"

    def ready() -> None:
        click.echo(f"optuna-dashboard on {url} (Ctrl-C to stop)")
        click.echo(f"Accepted Host headers: {', '.join(hosts)}")

    try:
        serve_dashboard(storage, host=host, port=port, hosts=hosts, ready=ready)
    except ServerStopped as stopped:
        _stopped(stopped)
