"""`hpo report`, `hpo retrain`, `hpo predict`: comparing and shipping the winner."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import (
    DURATION,
    device_option,
    required_study_option,
    storage_option,
    tracking_option,
)
from orchestrator.cli._output import _fmt_seconds
from orchestrator.numbers import fmt_number


@click.command()
@required_study_option
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@click.option(
    "--since", type=DURATION, help="Only trials started in the last 12h (90s, 30m, 8h, 1d)."
)
@click.option(
    "--no-mlflow", is_flag=True, help="Do not log the report on the study's MLflow parent run."
)
@click.option(
    "--interactive",
    is_flag=True,
    help="Also write an interactive page beside it (NAME-interactive.html: Optuna's plotly "
    "figures, plotly.js inlined, about 5 MB, works offline).",
)
@click.option(
    "--ui-url",
    envvar="HPO_UI_URL",
    metavar="URL",
    help="The MLflow UI the trial links open, e.g. http://mlflow.lab:5000 (env HPO_UI_URL). "
    "Default: the tracking server's own, or the local one hpo ui serves.",
)
@click.option(
    "--no-explain",
    is_flag=True,
    help="Leave out what the winner looks at (hpo explain: its last explanation, else the "
    "winner explained now, which takes up to a minute).",
)
@storage_option
@tracking_option
@handle_errors
def report(
    study_name: str,
    out: str,
    since: float | None,
    no_mlflow: bool,
    interactive: bool,
    ui_url: str | None,
    no_explain: bool,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Write a study's report: one self-contained HTML page that opens offline.

    Summary, best trial, the test split (confusion matrix, per-class precision, recall and F1),
    what the winner looks at (hpo explain's pictures: the study's last explanation when it is
    of the winner, else the winner explained now), leaderboard (each trial linked to its
    MLflow run), optimization history, parameter importances, parallel coordinates, slice
    plots, learning curves of every trial, losses of the best, the trial timeline, the Pareto
    front (several objectives), failures and compute used. Also logged, with the plots as
    images, on the study's MLflow parent run.
    """
    from orchestrator.report import build_report

    result = build_report(
        study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        out=out,
        since=since,
        log_to_mlflow=not no_mlflow,
        interactive=interactive,
        ui_url=ui_url,
        explain=not no_explain,
    )
    window = (
        f" ({result.n_trials} of {result.n_total} started in the last {_fmt_seconds(since)})"
        if since
        else ""
    )
    size = result.path.stat().st_size / 1024
    click.echo(
        f"Report of study '{study_name}'{window}: {result.path} "
        f"({size:.0f} KB, {len(result.plots)} plots, {result.seconds:.1f}s)"
    )
    if result.interactive_path is not None:
        megabytes = result.interactive_path.stat().st_size / 1e6
        click.echo(f"Interactive page: {result.interactive_path} ({megabytes:.1f} MB)")
    for plot, reason in result.skipped.items():
        click.echo(f"  {plot}: not drawn: {reason}")
    if result.explained is not None:
        click.echo(f"  what the winner looks at: trial #{result.explained} (hpo explain)")
    elif result.explain_failure:
        click.echo(f"  what the winner looks at: not shown: {result.explain_failure}")
    if result.logged_run_id:
        click.echo(f"Logged on MLflow run {result.logged_run_id} (artifacts report/)")


@click.command()
@required_study_option
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Retrain the best K configurations.",
)
@click.option(
    "--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Seeds for each."
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Epochs per seed. Default: the trial's best epoch.",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Register the shipped model under the study's name.",
)
@device_option
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads for training. Default: half the cores.",
)
@storage_option
@tracking_option
@handle_errors
def retrain(
    study_name: str,
    top: int,
    seeds: int,
    epochs: int | None,
    register: bool,
    device: str,
    threads: int | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Retrain the best configurations on train+val with several seeds and test them.

    Prints test accuracy and macro and per-class precision, recall and F1 as mean +- std over
    seeds, and the confusion matrix. The best-ranked configuration's first seed is logged with
    mlflow.pytorch.log_model and registered in the MLflow Model Registry under the study name.
    """
    from orchestrator.device import default_threads
    from orchestrator.retrain import retrain as retrain_study
    from orchestrator.study import load_study

    load_study(study_name, storage=storage)  # a missing study is said before anything else

    def on_seed(event: Any) -> None:
        if event.failure:
            detail = f"FAIL {event.failure}"
        else:
            detail = "  ".join(
                f"{k.removeprefix('test_')}={fmt_number(v)}"
                for k, v in list(event.metrics.items())[1:3]  # after the loss: e.g. accuracy
            )
        click.echo(
            f"  [{event.index}/{event.total}] trial #{event.trial} seed {event.seed}: "
            f"{detail}  {_fmt_seconds(event.seconds)}"
        )

    click.echo(
        f"Retraining the best {top} configuration{'s' * (top > 1)} of study '{study_name}' "
        f"with {seeds} seed{'s' * (seeds > 1)} each, on train+val; testing on the test split."
    )
    result = retrain_study(
        study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        top=top,
        seeds=seeds,
        epochs=epochs,
        device=device,
        threads=threads or default_threads(),
        register=register,
        progress=on_seed,
    )
    for config in result.configs:
        _print_retrained(config, result)
    model = result.model
    if model is not None:
        what = "Registered" if model.version is not None else "Logged"
        click.echo(
            f"\n{what} {model.model_uri} (trial #{result.shipped_trial}, seed "
            f"{result.shipped_seed}; run {model.run_id}; log_model {model.seconds:.2f}s)"
        )
        click.echo(
            f"Predict with: hpo predict --model {model.model_uri} --input FILE "
            "--out predictions.csv"
        )
    click.echo(f"Done in {_fmt_seconds(result.seconds)}.")


def _print_retrained(config: Any, result: Any) -> None:
    from orchestrator.tasks import get_task, metric_label

    task = get_task(result.task)
    class_names, sizes = result.class_names, result.sizes
    summary = config.summary
    failed = [s for s in config.seeds if s.failure]
    click.echo(
        f"\nTrial #{config.trial} (rank {config.rank}): {summary.get('n', 0)} seeds x "
        f"{config.epochs} epochs on {sizes['train']} samples; test split ({sizes['test']} "
        f"samples), mean +- std over seeds; MLflow run {config.run_id}"
    )
    if failed:
        click.echo(f"  {len(failed)} seed(s) failed: " + "; ".join(str(s.failure) for s in failed))
    if not summary:
        return
    for key in task.summary:
        mean, std = summary["mean"][f"test_{key}"], summary["std"][f"test_{key}"]
        label = metric_label(key)
        label = f"{label} ({task.averaging[key]})" if key in task.averaging else label
        click.echo(f"  {label:<20} {fmt_number(mean)} +- {fmt_number(std)}")
    per_class = summary.get("per_class")
    if per_class:
        keys = list(per_class)
        width = max(5, *(len(c) for c in class_names))
        click.echo(f"  {'class':<{width}}  " + "  ".join(f"{k:>17}" for k in keys))
        for i, name in enumerate(class_names):
            cells = "  ".join(
                f"{fmt_number(per_class[k]['mean'][i])} +- "
                f"{fmt_number(per_class[k]['std'][i])}".rjust(17)
                for k in keys
            )
            click.echo(f"  {name:<{width}}  {cells}")
    matrix = summary.get("confusion_matrix")
    if matrix is None:
        return
    if len(class_names) <= 20:
        width = max(5, *(len(c) for c in class_names))
        cell = max(3, len(str(max(max(row) for row in matrix))), *(len(c) for c in class_names))
        click.echo("  confusion matrix, summed over seeds (rows: true, columns: predicted):")
        click.echo("  " + " " * width + " " + " ".join(c.rjust(cell) for c in class_names))
        for name, row in zip(class_names, matrix, strict=True):
            click.echo(f"  {name:<{width}} " + " ".join(str(v).rjust(cell) for v in row))
    else:
        click.echo("  confusion matrix: in retrain_evaluation.json on the run above")


@click.command()
@click.option(
    "--model",
    "model_ref",
    required=True,
    metavar="URI",
    help="models:/NAME/VERSION (see hpo retrain), models:/NAME/latest, a run id or a model folder.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Raw samples: a CSV (one sample per row), .npy or .npz file; text models: a .txt file "
    "of one text per line too.",
)
@click.option(
    "--out",
    default="predictions.csv",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The CSV file to write.",
)
@click.option(
    "--proba",
    is_flag=True,
    help="Also write the probability of every class (or label): proba_<class> columns.",
)
@click.option(
    "--threshold",
    metavar="P|f1",
    help="Binary and multilabel models: predict the positive class (a label) from this "
    "probability on (default 0.5), or f1 for the threshold the trial chose on its validation "
    "split.",
)
@tracking_option
@handle_errors
def predict(
    model_ref: str,
    input_path: str,
    out: str,
    proba: bool,
    threshold: str | None,
    tracking_uri: str | None,
) -> None:
    """Predict every sample in a file with a shipped model; write a CSV.

    The model's stored preprocessing is applied to the raw input. Each row of the output holds
    the row number, the input's identifier columns, and the prediction in a column named after
    the target (the class, or the value of a regression; one 0/1 column per label of a
    multi-label model); --proba adds the probability of every class.
    """
    from orchestrator.predict import predict as predict_file

    result = predict_file(
        model_ref,
        input_path,
        out=out,
        tracking_uri=tracking_uri,
        proba=proba,
        threshold=threshold,
    )
    click.echo(f"Wrote {result.rows} predictions to {result.out} (model {model_ref}).")
    if result.counts:
        counts = ", ".join(f"{name}: {n}" for name, n in result.counts.items())
        click.echo(f"Predicted {result.counted}: {counts}")
