"""4. Search quality: TPE against random search on MNIST-1D, beside the published results."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from _harness import MNIST1D_SPACE, Context, fmt, pct, section, table, target
from _studies import StudyJob, states_text, study_job, submit_study
from pruning import pruning_plan

# Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D" (ICML 2024): test accuracy
PUBLISHED = [
    ("logistic regression", 0.32),
    ("MLP", 0.68),
    ("CNN", 0.94),
    ("GRU", 0.91),
    ("human expert", 0.96),
]


def quality_jobs(ctx: Context) -> list[StudyJob]:
    """The TPE and random-search studies of section 4, one pair per seed."""
    s = ctx.settings
    return [
        study_job(
            ctx, f"quality-{sampler}-{seed}", MNIST1D_SPACE,
            n_trials=s.quality_trials, seed=seed, sampler=sampler,
        )
        for seed in s.quality_seeds
        for sampler in ("tpe", "random")
    ]  # fmt: skip


def bench_quality(ctx: Context) -> dict[str, Any]:
    """Section 4; starts section 5's studies too when it runs, to share the pool."""
    s = ctx.settings
    reference = table(["published (test accuracy)", ""], [[n, pct(v, 0)] for n, v in PUBLISHED])
    jobs = quality_jobs(ctx)
    extra = pruning_plan(ctx)["jobs"] if "pruning" in ctx.selected else {}
    # the pruning studies start now too ("parallel" at a time): the longest (unpruned) first
    for (arm, _), job in extra.items():
        if arm == "off":
            submit_study(ctx, job)
    futures = {job.key: submit_study(ctx, job) for job in jobs}
    for (arm, _), job in extra.items():
        if arm not in ("off", "on"):
            submit_study(ctx, job)
    results = {key: f.result() for key, f in futures.items()}
    rows = []
    summary: dict[str, dict[str, float]] = {}
    for sampler in ("tpe", "random"):
        rs = [results[f"quality-{sampler}-{seed}"] for seed in s.quality_seeds]
        for seed, r in zip(s.quality_seeds, rs, strict=True):
            rows.append(
                [
                    sampler,
                    seed,
                    pct(r["best_value"]),
                    pct(r["test_accuracy"]),
                    states_text(r["states"]),
                    r["epochs"],
                    fmt(r["wall"], 0),
                ]
            )
        vals = [r["best_value"] for r in rs]
        tests = [r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
        summary[sampler] = {
            "best_value_mean": statistics.fmean(vals),
            "test_accuracy_mean": statistics.fmean(tests) if tests else math.nan,
            "test_accuracy_min": min(tests) if tests else math.nan,
        }
        if len(rs) > 1:
            rows.append(
                [
                    f"**{sampler}, mean**",
                    "",
                    pct(summary[sampler]["best_value_mean"]),
                    pct(summary[sampler]["test_accuracy_mean"]),
                    "",
                    "",
                    "",
                ]
            )
    tpe = summary["tpe"]["test_accuracy_mean"]
    return section(
        "quality",
        tables=[
            table(
                [
                    "sampler",
                    "seed",
                    "best val accuracy",
                    "its test accuracy",
                    "trials",
                    "epochs",
                    "wall (s)",
                ],
                rows,
            ),
            reference,
        ],
        targets=[
            target(
                "best trial's test accuracy, TPE"
                + (", mean over seeds" if len(s.quality_seeds) > 1 else ""),
                "> 96%",
                pct(tpe)
                + (
                    f" (lowest seed {pct(summary['tpe']['test_accuracy_min'])})"
                    if len(s.quality_seeds) > 1
                    else ""
                ),
                tpe > 0.96,
            ),
            target(
                "TPE against random search (best val accuracy)",
                "TPE ≥ random",
                f"{pct(summary['tpe']['best_value_mean'])} vs "
                f"{pct(summary['random']['best_value_mean'])}",
                summary["tpe"]["best_value_mean"] >= summary["random"]["best_value_mean"],
            ),
        ],
        commands=["# each in a fresh directory", *(results[j.key]["command"] for j in jobs)],
        notes=[
            f"`{MNIST1D_SPACE}` as shipped (its epochs, pruner and early stopping), "
            f"{s.quality_trials} trials per study, seed(s) {', '.join(map(str, s.quality_seeds))}; "
            f"{s.parallel} studies ran at a time, 1 thread each (results do not depend on it, "
            "wall times do).",
            "Test accuracy: the best trial (by validation accuracy) evaluated once on the held-out "
            "test split (the published 1,000 test samples) by `hpo run` itself, read back as "
            "`hpo best --json` shows it.",
            *quality_why(summary, seeds=s.quality_seeds, trials=s.quality_trials),
        ],
        figures={"results": results, "summary": summary},
    )


def quality_why(
    summary: dict[str, dict[str, float]], *, seeds: Sequence[int], trials: int
) -> list[str]:
    """What a TPE-below-random result on too few seeds does and does not say."""
    tpe, rnd = summary["tpe"]["best_value_mean"], summary["random"]["best_value_mean"]
    if tpe >= rnd or len(seeds) > 1:
        return []
    return [
        f"TPE below random search here is one draw of each ({trials} trials, seed "
        f"{seeds[0]}), {100 * (rnd - tpe):.2f} points of validation accuracy apart. Both found "
        "configurations above 98%; the issue asks for 3 seeds to compare the samplers, which "
        "`--preset issue` runs."
    ]
