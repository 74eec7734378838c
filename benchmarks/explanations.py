"""14. Explaining the winner: `hpo explain` with its defaults on a study of each shipped space,
timed on the CPU: what each kind of data draws and how long it takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    Context,
    fmt,
    hpo_command,
    run_timed,
    section,
    sets_args,
    show,
    table,
    target,
)

# the shipped spaces, each a family on a kind of data and a task
SPACES = (
    "search_spaces/mlp.yaml",
    "search_spaces/regression.yaml",
    "search_spaces/binary.yaml",
    "search_spaces/multilabel.yaml",
    "search_spaces/cnn.yaml",
    "search_spaces/cnn1d.yaml",
    "search_spaces/rnn.yaml",
    "search_spaces/transformer.yaml",
    "search_spaces/text.yaml",
    "search_spaces/hf_text.yaml",
)
QUICK = ("search_spaces/mlp.yaml", "search_spaces/cnn.yaml", "search_spaces/text.yaml")
BUDGET = 60.0  # seconds, per space, 2 CPU cores
TRIALS = 2  # per study: explain times the network, not how well it learnt


def bench_explain(ctx: Context) -> dict[str, Any]:
    from orchestrator.errors import first_line
    from orchestrator.space import load_space

    epochs = 1
    rows, results, commands, skipped = [], [], [], []
    quick = ctx.settings.quick
    for space_path in QUICK if quick else SPACES:
        space = load_space(ROOT / space_path)
        folder = ctx.work / "explain" / space.name
        folder.mkdir(parents=True, exist_ok=True)
        stores = ["--storage", str(folder / "optuna.journal"),
                  "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"]  # fmt: skip
        sets = [f"study.n_trials={1 if quick else TRIALS}", f"train.epochs={epochs}"]
        run = [*hpo_command(), "run", "--space", str(ROOT / space_path), *sets_args(sets),
               "--device", "cpu", *stores]  # fmt: skip
        explain = [*hpo_command(), "explain", "--study", space.name, "--device", "cpu",
                   "--out", str(folder / "explain"), *(["--samples", "20"] if quick else []),
                   *stores]  # fmt: skip
        try:
            run_timed(run, cwd=ROOT)  # the data paths of the spaces are the repository's
            wall, _ = run_timed(explain, cwd=ROOT)
        except Exception as exc:  # a space whose extra or model is not installed here
            skipped.append(f"{space_path}: {first_line(exc)}")
            continue
        commands += [show(run, ctx), show(explain, ctx)]
        numbers = json.loads(Path(folder / "explain" / "explanation.json").read_text())
        results.append({"space": space_path, "wall": wall, **_kept(numbers)})
        rows.append(
            [
                space_path.removeprefix("search_spaces/"),
                numbers["family"],
                numbers["kind"],
                numbers["task"],
                numbers["samples"],
                ", ".join(numbers["pictures"]) or "–",
                fmt(numbers["seconds"], 1),
                fmt(wall, 1),
            ]
        )
    slowest = max((r["wall"] for r in results), default=None)
    return section(
        "explain",
        tables=[
            table(
                [
                    "space",
                    "family",
                    "data",
                    "task",
                    "samples attributed",
                    "pictures",
                    "explain (s, in hpo)",
                    "hpo explain (s, wall)",
                ],
                rows,
            )
        ],
        targets=[
            target(
                "`hpo explain` with its defaults, slowest shipped space, 2 CPU cores",
                f"< {BUDGET:.0f} s",
                "–" if slowest is None else f"{slowest:.1f} s",
                None if slowest is None else slowest < BUDGET,
            )
        ],
        commands=["# each space: a study, then hpo explain of its best trial", *commands],
        notes=[
            f"Each study: the shipped space with {TRIALS} trials of {epochs} epoch (the time of "
            "an explanation is the network's and the test split's, not how well it learnt), "
            "then `hpo explain` with its defaults (--samples 200); wall time includes the "
            "interpreter's start and the imports (torch, Captum, MLflow).",
            "Tables: permutation importance (5 repeats of every column over the whole test "
            "split) and integrated gradients of 200 test rows; images: integrated gradients and "
            "Grad-CAM of one right and one wrong test image per class; sequences and texts: "
            "the most confident right and wrong predictions (32 integration steps each).",
            *[f"Not run: {line}" for line in skipped],
        ],
        figures={"results": results},
    )


def _kept(numbers: dict[str, Any]) -> dict[str, Any]:
    return {k: numbers[k] for k in ("family", "kind", "task", "samples", "pictures", "seconds")}
