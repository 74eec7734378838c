"""`hpo ensemble` and `hpo refine`: more out of a finished study."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import (
    device_option,
    required_study_option,
    storage_option,
    tracking_option,
)
from orchestrator.cli._output import _fmt_seconds


@click.command()
@required_study_option
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="The library: the study's best K completed trials.",
)
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Picks of the selection, with replacement (the ensemble's weights are picks / size).",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Register the ensemble as NAME-ensemble in the MLflow Model Registry.",
)
@device_option
@storage_option
@tracking_option
@handle_errors
def ensemble(
    study_name: str,
    top: int,
    size: int,
    register: bool,
    device: str,
    storage: Any,
    tracking_uri: str | None,
) -> None:
    """Build an ensemble of a study's best trials and test it against the best one.

    Caruana's ensemble selection (forward, with replacement, from the best 3) over the top
    trials' validation predictions (out-of-fold with data.cv), for the study's metric, across
    model families; probabilities (values, for a regression) are averaged. The test split is
    scored once, at the end. Logged as an MLflow run of the study's experiment and registered
    as NAME-ensemble: hpo predict --model models:/NAME-ensemble/1 and mlflow.pyfunc.load_model
    both load it.
    """
    from orchestrator.ensemble import build_ensemble

    click.echo(
        f"Ensemble of the best {top} trials of study '{study_name}', {size} picks with "
        "replacement, for the study's metric."
    )
    result = build_ensemble(
        study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        top=top,
        size=size,
        device=device,
        register=register,
        progress=lambda text: click.echo(f"  {text}"),
    )
    print_ensemble(result)


def print_ensemble(result: Any) -> None:
    """The ensemble against the best single trial: members, weights, test split, cost."""
    from orchestrator.numbers import fmt_number
    from orchestrator.tasks import metric_label

    members = ", ".join(f"#{m.trial} x{m.picks}" for m in result.picked)
    click.echo(f"Members ({len(result.picked)} of {len(result.members)}): {members}")
    rows = "out-of-fold" if result.out_of_fold else "validation"
    click.echo(
        f"  {result.metric} on the {rows} rows: ensemble {fmt_number(result.val_score)}, best "
        f"trial {fmt_number(result.best_val)}"
    )
    click.echo("Test split (once):        ensemble   best trial")
    for key, value in result.test.items():
        best = result.best_test.get(key)
        click.echo(
            f"  {metric_label(key):<22} {fmt_number(value):>9}   "
            + (f"{fmt_number(best):>9}" if best is not None else "-")
        )
    click.echo(
        f"  inference: {len(result.picked)} member(s), {fmt_number(result.ms_per_sample)} ms per "
        f"sample (best trial alone {fmt_number(result.best_ms_per_sample)} ms)"
    )
    if result.model is not None:
        what = "Registered" if result.model.version is not None else "Logged"
        click.echo(f"{what} {result.model.model_uri} (MLflow run {result.run_id})")
        click.echo(f"Predict with: hpo predict --model {result.model.model_uri} --input FILE")
    click.echo(f"Done in {_fmt_seconds(result.seconds)}.")


@click.command()
@required_study_option
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="The space file to write, e.g. narrowed.yaml.",
)
@click.option("--name", help="The new study's name. Default: STUDY-refined.")
@click.option(
    "--top-share",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=0.2,
    show_default=True,
    help="The share of the completed trials, best first, that the new ranges follow (at least 3).",
)
@storage_option
@handle_errors
def refine(study_name: str, out: str, name: str | None, top_share: float, storage: Any) -> None:
    """Write a narrower search space from a finished study.

    Numeric ranges become the span of the best trials (padded 10%, in log space for log
    parameters), categorical choices and branches those the best trials used, and parameters
    Optuna's importance rates unimportant (below 1% of the total, with 10 or more completed
    trials) are fixed at the best trial's value; the file's header says each change and why.
    The new study warm-starts from the parent's best trials that fit it (study.warm_start):
    hpo run --space OUT.
    """
    from pathlib import Path

    from orchestrator.errors import ConfigError
    from orchestrator.study import load_study
    from orchestrator.study._refine import refine_space

    refined = refine_space(load_study(study_name, storage=storage), name=name, top_share=top_share)
    try:
        Path(out).write_text(refined.yaml())
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write it ({exc.strerror or exc})") from exc
    click.echo(
        f"Wrote {out}: {len(refined.changes)} change(s) from the best {len(refined.top)} trials "
        f"of '{study_name}'"
    )
    for change in refined.changes:
        click.echo(f"  {change.path}: {change.before} -> {change.after} ({change.why})")
    click.echo(f"Run it: hpo run --space {out}")
