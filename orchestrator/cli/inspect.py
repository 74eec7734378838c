"""`hpo studies`, `hpo best`, `hpo leaderboard`: reading studies."""

from __future__ import annotations

import json
from typing import Any

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import required_study_option, storage_option, tracking_option
from orchestrator.cli._output import _fmt_value
from orchestrator.names import REPORT_FORMATS, TRIAL_STATES


def _tracking_line(tracking_uri: str | None) -> str | None:
    """Where the studies' MLflow runs are, when the user named a tracking store."""
    from orchestrator.redact import redact_url

    if not tracking_uri:
        return None
    return f"MLflow runs in {redact_url(tracking_uri)} (open with: hpo ui --tracking-uri ...)"


@click.command()
@storage_option
@tracking_option
@handle_errors
def studies(storage: Any, tracking_uri: str | None) -> None:
    """List the studies in a storage: trials by state and the best value."""
    from orchestrator.study import list_studies

    infos = list_studies(storage=storage)
    if not infos:
        click.echo(f"No studies in {storage.display}.")
        return
    for info in infos:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(info.states.items()))
        best = (
            f"best {info.metric or 'value'}={_fmt_value(info.best_value)} (#{info.best_number})"
            if info.best_number is not None
            else "no completed trial"
        )
        click.echo(f"{info.name}: {sum(info.states.values())} trials ({states}); {best}")
    line = _tracking_line(tracking_uri)
    if line:
        click.echo(line)


@click.command()
@required_study_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@storage_option
@tracking_option
@handle_errors
def best(study_name: str, as_json: bool, storage: Any, tracking_uri: str | None) -> None:
    """Show the best trial of a study: number, value, params and MLflow run id."""
    from orchestrator.redact import redact_url
    from orchestrator.study import get_best

    info = get_best(study_name, storage=storage)
    if tracking_uri:
        info["mlflow_tracking_uri"] = redact_url(tracking_uri)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    from orchestrator.tasks import get_task

    click.echo(f"Study '{info['study']}': best trial #{info['number']}")
    click.echo(f"  task: {get_task(info['task']).title}")
    click.echo(f"  {info['metric'] or 'value'} = {_fmt_value(info['value'])}")
    others = {k: v for k, v in info.get("val_metrics", {}).items() if k != info["metric"]}
    if others:
        click.echo("  validation: " + "  ".join(f"{k}={_fmt_value(v)}" for k, v in others.items()))
    for key, value in info["params"].items():
        click.echo(f"  {key} = {_fmt_value(value)}")
    click.echo(f"  seed = {info['seed']}")
    click.echo(f"  MLflow run: {info['mlflow_run_id']}")
    if info.get("test_metrics"):
        shown = "  ".join(
            f"{k}={_fmt_value(v)}"
            for k, v in info["test_metrics"].items()
            if k not in ("trial", "test_loss")
        )
        click.echo(f"  test: {shown}")
    line = _tracking_line(tracking_uri)
    if line:
        click.echo(f"  {line}")


@click.command()
@required_study_option
@click.option("--top", type=click.IntRange(min=1), help="Only the best K trials.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="table and markdown to read; csv and json (every column, full precision) for programs.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(TRIAL_STATES, case_sensitive=False),
    help="Only trials in this state (repeatable).",
)
@click.option(
    "--columns",
    metavar="A,B,C",
    help="Columns to show after rank, trial and state, comma-separated (params. and objective. "
    "may be left out). Default: table: the objective(s), the task's other validation metrics "
    "and the parameters that vary, in the space's order; the other formats: every column.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead.")
@storage_option
@tracking_option
@handle_errors
def leaderboard(
    study_name: str,
    top: int | None,
    fmt: str,
    states: tuple[str, ...],
    columns: str | None,
    out: str | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Rank a study's trials: objective(s), validation metrics, duration, parameters, MLflow run.

    With several objectives, rank 1 is the Pareto front (column pareto), rank 2 the next front.
    The table fits the terminal: parameter columns that do not fit are left out, and said so.
    """
    import shutil

    from orchestrator.report import format_leaderboard, leaderboard, load_study_data, needs_runs

    # what a trial keeps in the study is enough (MLflow, a second of imports, only for studies
    # whose trials did not keep their best epoch's metrics)
    data = load_study_data(study_name, storage=storage, use_mlflow=False)
    if needs_runs(data):
        data = load_study_data(study_name, storage=storage, tracking_uri=tracking_uri)
    frame = leaderboard(data, top=top, states=states)
    # a terminal's width (COLUMNS, else the terminal's own); none when piped or written to a file
    width = None if out else shutil.get_terminal_size(fallback=(0, 0)).columns or None
    text = format_leaderboard(
        frame,
        fmt,  # type: ignore[arg-type]
        columns=columns.split(",") if columns else None,
        width=width,
    )
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"Wrote {len(frame)} trials of study '{study_name}' to {out} ({fmt}).")
        return
    if fmt == "table":
        objectives = ", ".join(
            f"{d} {m}" for m, d in zip(data.metrics, data.directions, strict=True)
        )
        click.echo(f"Study '{study_name}' ({objectives}): {len(frame)} of {data.n_total} trials")
    click.echo(text, nl=False)
