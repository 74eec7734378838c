"""12. Ensembles: the ensemble of a study's best trials against its best single trial, on the test
split, over seeds of MNIST-1D (cnn1d.yaml) and of digits (cnn.yaml), with the ensemble's cost."""

from __future__ import annotations

import json
import statistics
from typing import Any

from _harness import (
    CNN_SPACE,
    MNIST1D_SPACE,
    Context,
    fmt,
    hpo_command,
    pct,
    run_timed,
    section,
    show,
    table,
    target,
)
from _studies import default_storage, study_job, submit_study

SPACES = {"MNIST-1D": MNIST1D_SPACE, "digits": CNN_SPACE}
TOP, SIZE = 10, 20  # hpo ensemble's defaults


def ensemble_jobs(ctx: Context) -> list[tuple[str, int, Any]]:
    """The studies of this section: each space at each seed, TPE, the space's own settings (the
    MNIST-1D ones are section 4's TPE studies: run once, shared)."""
    s = ctx.settings
    return [
        (
            label,
            seed,
            study_job(
                ctx,
                f"quality-tpe-{seed}" if label == "MNIST-1D" else f"ensemble-digits-{seed}",
                space,
                n_trials=s.quality_trials,
                seed=seed,
                sampler="tpe",
            ),
        )
        for label, space in SPACES.items()
        for seed in s.quality_seeds
    ]


def bench_ensembles(ctx: Context) -> dict[str, Any]:
    jobs = ensemble_jobs(ctx)
    futures = [(label, seed, job, submit_study(ctx, job)) for label, seed, job in jobs]
    rows, results, commands = [], [], []
    for label, seed, job, future in futures:
        future.result()
        directory = ctx.work / "studies" / job.key
        cmd = [*hpo_command(), "ensemble", "--study", job.name, "--device", "cpu"]
        wall, _ = run_timed(cmd, cwd=directory)
        commands += [show(["hpo", *job.args], ctx), show(cmd, ctx)]
        got = _summary(directory, job.name)
        results.append({"data": label, "seed": seed, "wall": wall, **got})
        rows.append(
            [
                label,
                seed,
                pct(got["best_test"]["test_accuracy"]),
                pct(got["test"]["test_accuracy"]),
                fmt(got["best_test"]["test_log_loss"], 4),
                fmt(got["test"]["test_log_loss"], 4),
                f"{len(got['members'])} of {got['library']}",
                fmt(got["best_ms_per_sample"], 4),
                fmt(got["ms_per_sample"], 4),
                fmt(wall, 0),
            ]
        )
    targets = []
    for label in SPACES:
        mine = [r for r in results if r["data"] == label]
        ensemble = statistics.fmean(r["test"]["test_accuracy"] for r in mine)
        single = statistics.fmean(r["best_test"]["test_accuracy"] for r in mine)
        loss = statistics.fmean(r["test"]["test_log_loss"] for r in mine)
        single_loss = statistics.fmean(r["best_test"]["test_log_loss"] for r in mine)
        rows.append(
            [f"**{label}, mean**", "", pct(single), pct(ensemble), fmt(single_loss, 4),
             fmt(loss, 4), "", "", "", ""]
        )  # fmt: skip
        targets += [
            target(
                f"{label}: ensemble test accuracy, mean", "≥ 99.0%", pct(ensemble), ensemble >= 0.99
            ),
            target(
                f"{label}: ensemble against the best single trial (test accuracy, mean)",
                "never below",
                f"{pct(ensemble, 2)} vs {pct(single, 2)}",
                ensemble >= single,
            ),
            target(
                f"{label}: ensemble's test log loss against the best single trial's, mean",
                "no worse",
                f"{loss:.4f} vs {single_loss:.4f}",
                loss <= single_loss,
            ),
        ]
    s = ctx.settings
    return section(
        "ensembles",
        tables=[
            table(
                [
                    "data",
                    "seed",
                    "best trial test acc.",
                    "ensemble test acc.",
                    "best trial log loss",
                    "ensemble log loss",
                    "members",
                    "best trial ms/sample",
                    "ensemble ms/sample",
                    "hpo ensemble (s)",
                ],
                rows,
            )
        ],
        targets=targets,
        commands=["# each in a fresh directory: the study, then its ensemble", *commands],
        notes=[
            f"Each study: the shipped space (its epochs, pruner, early stopping), TPE, "
            f"{s.quality_trials} trials, seed(s) {', '.join(map(str, s.quality_seeds))}; then "
            f"`hpo ensemble` with its defaults: the best {TOP} completed trials, {SIZE} picks "
            "with replacement from the best 3 (Caruana's selection), chosen on the trials' "
            "validation predictions for the study's metric (validation accuracy).",
            "Test: the ensemble and the best single trial (by validation accuracy), each scored "
            "once on the held-out test split; the members are the trials as they trained in "
            "the search (not retrained on train+val). ms/sample: every member's forward passes "
            "over the test split, on the CPU, 1 thread, divided by its samples.",
        ],
        figures={"results": results},
    )


def _summary(directory: Any, name: str) -> dict[str, Any]:
    """What `hpo ensemble` left on the study (``hpo.ensemble``)."""
    from orchestrator.study import load_study

    study = load_study(name, storage=default_storage(directory))
    return json.loads(json.dumps(study.user_attrs["hpo.ensemble"]))
