"""`hpo explain`: what the winner looks at, as pictures."""

from __future__ import annotations

import sys
from typing import Any

import click

from orchestrator.cli._errors import handle_errors
from orchestrator.cli._options import (
    device_option,
    required_study_option,
    storage_option,
    tracking_option,
)
from orchestrator.cli._output import StagePrinter, _fmt_seconds
from orchestrator.explain import SAMPLES


@click.command()
@required_study_option
@click.option(
    "--trial",
    "trial_number",
    type=click.IntRange(min=0),
    help="Explain this trial instead of the study's best (hpo leaderboard lists them).",
)
@click.option(
    "--model",
    "model_ref",
    metavar="URI",
    help="Explain a shipped model of the study instead (hpo retrain's models:/NAME/1, a run id "
    "or a folder): its own weights, on the test split of the trial it was retrained from.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=SAMPLES,
    show_default=True,
    help="Tables: the test rows whose integrated gradients are averaged (drawn with the study "
    "seed; permutation importance shuffles the whole test split). Images, sequences and texts "
    "attribute the examples shown, chosen among the whole test split.",
)
@click.option(
    "--out",
    default="explain",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The folder the pictures and explanation.json go to.",
)
@click.option(
    "--no-mlflow",
    is_flag=True,
    help="Do not log explain/ on the trial's MLflow run (nor remember it in the study).",
)
@device_option
@storage_option
@tracking_option
@handle_errors
def explain(
    study_name: str,
    trial_number: int | None,
    model_ref: str | None,
    samples: int,
    out: str,
    no_mlflow: bool,
    device: str,
    storage: Any,
    tracking_uri: str | None,
) -> None:
    """Explain the study's best trial on its test split, with pictures.

    Tables: permutation importance of every original column (its one-hot columns together)
    for the study's metric, beside integrated gradients. Images: integrated gradients and
    Grad-CAM of each class's most confident right and wrong prediction, and the worst errors.
    Sequences: integrated gradients over the time steps. Texts: token attributions (layer
    integrated gradients on the embedding) of the most confident right and wrong predictions.
    Every task: the worst errors. Written to --out and logged as explain/ on the trial's
    MLflow run; hpo report shows the last explanation.
    """
    from orchestrator.explain import explain as explain_trial

    _check_folder(out)  # before anything is computed or logged
    which = f"trial #{trial_number}" if trial_number is not None else "the best trial"
    which = model_ref or which
    click.echo(f"Explaining {which} of study '{study_name}' on its test split.")
    printer = StagePrinter(live=sys.stdout.isatty())
    try:
        result = explain_trial(
            study_name,
            storage=storage,
            tracking_uri=tracking_uri,
            trial=trial_number,
            model=model_ref,
            samples=samples,
            device=device,
            log=not no_mlflow,
            progress=printer,
        )
    finally:
        printer.close()
    written = result.save(out)
    print_explanation(result)
    click.echo(f"Wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    if result.logged:
        what = result.model or f"trial #{result.trial}"
        click.echo(f"Logged explain/ on the MLflow run of {what} ({result.run_id})")
    click.echo(f"Done in {_fmt_seconds(result.seconds)}.")


def _check_folder(out: str) -> None:
    """``--out`` is a folder this process can write, or can make; else one line, exit 2."""
    import os
    from pathlib import Path

    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"{out}: cannot make it ({exc.strerror or exc}); give a folder you can write",
            param_hint="--out",
        ) from exc
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(
            f"{out}: not writable; give a folder you can write", param_hint="--out"
        )


def print_explanation(result: Any) -> None:
    """The columns that matter most, the worst errors, and what was not drawn."""
    from orchestrator.numbers import fmt_number

    shipped = f"{result.model}, shipped from " if result.model else ""
    click.echo(
        f"{shipped}trial #{result.trial} ({result.family}, {result.kind}, {result.task}): "
        f"{result.samples} test samples attributed"
    )
    if result.importance:
        click.echo(f"Columns by permutation importance (drop of {result.metric}, mean ± std):")
        for entry in result.importance[:10]:
            click.echo(
                f"  {entry.column:<24} {fmt_number(entry.mean):>9} ± {fmt_number(entry.std):<9}"
                f" |integrated gradients| {fmt_number(entry.attribution)}"
            )
    if result.errors:
        click.echo(f"Worst errors (of the test split; {result.badness}):")
        for entry in result.errors[:5]:
            click.echo(
                f"  row {entry['row']:<6} true {entry['actual']:<14} said "
                f"{entry['predicted']:<14} {fmt_number(entry['badness'])}"
            )
    for name, why in result.skipped.items():
        click.echo(f"  not drawn: {name}: {why}")
