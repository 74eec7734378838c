"""`hpo ui` and `hpo dashboard`: the MLflow UI and optuna-dashboard over hpo's stores."""

from __future__ import annotations

import shutil
import subprocess
import sys

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import bind_options, storage_option, tracking_option
from orchestrator.cli._output import _url_host


@click.command()
@bind_options(port=5000)
@tracking_option
@handle_errors
def ui(
    host: str,
    port: int,
    allow_remote: bool,
    extra_hosts: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Open the MLflow UI over the same tracking store as `hpo run`.

    It binds to 127.0.0.1 unless --allow-remote is given, and MLflow's Host-header check stays on
    (the accepted names are printed; add others with --allowed-host).
    """
    from orchestrator.dashboards import allowed_hosts, check_bind, mlflow_server_command

    warning = check_bind(host, allow_remote=allow_remote, what="the MLflow UI")
    if warning:
        click.echo(warning, err=True)
    hosts = allowed_hosts(host, port, extra_hosts)
    command, env = mlflow_server_command(
        host=host, port=port, tracking_uri=tracking_uri, hosts=hosts
    )
    click.echo(f"MLflow UI on http://{_url_host(host)}:{port} (Ctrl-C to stop)")
    if not allow_remote:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}")
    else:
        click.echo(f"Accepted Host headers: {', '.join(hosts)}; add others with --allowed-host")
    if shutil.which(sys.executable) is None:  # pragma: no cover - a broken interpreter path
        raise click.ClickException("cannot find the Python interpreter to start MLflow")
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too: let it shut down
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            code = process.wait()
        click.echo("\nStopped.", err=True)
        code = 0
    raise SystemExit(code)


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
    is not one of the accepted names (add others with --allowed-host).
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
    except KeyboardInterrupt:
        click.echo("\nStopped.", err=True)
