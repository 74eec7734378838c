"""Pruner replay: which pruner configuration of a space saves the most epochs without losing its
best trial, judged offline on learning curves recorded once with pruning off.

Record once per seed (pruning off, one study per seed, each in its own scratch directory):

    hpo run --space search_spaces/cnn1d.yaml --study cnn1d-none-s0 --set study.pruner=none \\
        --set study.seed=0 --n-trials 30 --device cpu --threads 1 \\
        --storage /tmp/rec/cnn1d-s0/optuna.journal --tracking-uri sqlite:////tmp/rec/cnn1d-s0/m.db

Replay every candidate over those curves:

    python benchmarks/pruners.py --space search_spaces/cnn1d.yaml \\
        --curves /tmp/rec/cnn1d-s0/optuna.journal:cnn1d-none-s0 --curves ... [--markdown out.md]

Each recorded study is fed, trial by trial in its original order, to a real Optuna pruner built
by hpo from the candidate's configuration, on an in-memory study: each epoch's value is reported
and the pruner asked, and the trial stops at its first "prune". A trial never pruned completes
with the value hpo recorded for it (its best epoch) and costs every epoch it ran (early stopping
included). The sampled configurations stay those of the unpruned study: with pruning, TPE would
have seen a different history and sampled other configurations.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the worktree's orchestrator
    sys.path.insert(0, str(ROOT))

TARGET_EPOCHS = 0.40  # epochs spent, pruned / unpruned (issue 13, section 5)
TARGET_DELTA = -0.005  # best value, pruned - unpruned (0.5 accuracy points)


@dataclass(frozen=True)
class Curve:
    """One recorded trial: its value at each epoch (1-based, in order) and its final value."""

    values: tuple[float, ...]
    value: float


@dataclass(frozen=True)
class Replay:
    """One pruner over one recorded study."""

    epochs: int  # epochs trained with the pruner
    full_epochs: int  # epochs trained without it (the recording)
    best: float  # best value among the trials the pruner let complete
    full_best: float  # best value of the recording
    pruned: int  # trials pruned

    @property
    def ratio(self) -> float:
        return self.epochs / self.full_epochs

    @property
    def delta(self) -> float:
        return self.best - self.full_best


def load_curves(storage: str, study_name: str) -> tuple[list[Curve], str]:
    """The completed trials of a recorded study in trial order, and its direction.

    ``storage``: a journal file path or a database URL.
    """
    import optuna
    from optuna.trial import TrialState

    if "://" in storage:
        store: Any = storage
    else:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        store = JournalStorage(JournalFileBackend(storage))
    study = optuna.load_study(study_name=study_name, storage=store)
    curves = []
    for t in sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        steps = sorted(t.intermediate_values)
        if steps and t.value is not None:
            curves.append(Curve(tuple(t.intermediate_values[s] for s in steps), float(t.value)))
    return curves, study.direction.name.lower()


def replay(
    curves: Sequence[Curve],
    make_pruner: Callable[[], Any],
    *,
    direction: str = "maximize",
) -> Replay:
    """Feed ``curves`` in order to a fresh pruner on an in-memory study; see the module doc."""
    import optuna
    from optuna.trial import TrialState

    better = max if direction == "maximize" else min
    study = optuna.create_study(
        study_name="replay",  # hyperband's brackets hash the study name: fixed, reproducible
        direction=direction,
        pruner=make_pruner(),
        sampler=optuna.samplers.RandomSampler(seed=0),  # asked for nothing: no parameters
    )
    epochs, pruned, finals = 0, 0, []
    for curve in curves:
        trial = study.ask()
        stopped = None
        for step, value in enumerate(curve.values, start=1):
            trial.report(value, step)
            if trial.should_prune():
                stopped = step
                break
        if stopped is None:
            study.tell(trial, curve.value)
            epochs += len(curve.values)
            finals.append(curve.value)
        else:
            study.tell(trial, state=TrialState.PRUNED)
            epochs += stopped
            pruned += 1
    return Replay(
        epochs=epochs,
        full_epochs=sum(len(c.values) for c in curves),
        best=better(finals) if finals else float("nan"),
        full_best=better(c.value for c in curves),
        pruned=pruned,
    )


def candidates(epochs: int) -> list[dict[str, Any]]:
    """Pruner configurations in the space's own words (``{name: ..., <option>: value}``).

    Rungs of successive halving and hyperband are matched to ``epochs`` by their min_resource and
    reduction_factor (rungs at min_resource * reduction_factor**k epochs).
    """
    out: list[dict[str, Any]] = [{"name": "none"}]
    for startup in (2, 3, 5, 8):
        for warmup in (1, 2, 3, 4, 6):
            out.append({"name": "median", "n_startup_trials": startup, "n_warmup_steps": warmup})
    for startup, warmup, interval in ((3, 2, 2), (5, 2, 2), (3, 3, 3), (5, 3, 3)):
        out.append(
            {
                "name": "median",
                "n_startup_trials": startup,
                "n_warmup_steps": warmup,
                "interval_steps": interval,
            }
        )
    for percentile in (60.0, 67.0, 75.0):
        for startup, warmup in ((3, 1), (3, 2), (5, 2), (5, 3), (8, 3)):
            out.append(
                {
                    "name": "percentile",
                    "percentile": percentile,
                    "n_startup_trials": startup,
                    "n_warmup_steps": warmup,
                }
            )
    # first rungs from 1 epoch to a quarter of the budget (slow starters, e.g. recurrent nets)
    for min_resource in dict.fromkeys(
        (1, 2, 3, max(1, epochs // 8), max(1, epochs // 6), max(1, epochs // 4))
    ):
        for factor in (2, 3, 4):
            if min_resource * factor > epochs:
                continue
            sha = {
                "name": "successive_halving",
                "min_resource": min_resource,
                "reduction_factor": factor,
            }
            if sha not in out:
                out.append(sha)
            hb = {"name": "hyperband", "min_resource": min_resource, "reduction_factor": factor}
            if hb not in out:
                out.append(hb)
    for wrapped in ("median", "percentile"):  # hpo builds the wrapped pruner with its defaults
        for patience in (1, 2, 3):
            out.append({"name": "patient", "patience": patience, "wrapped": wrapped})
    return out


def label(config: dict[str, Any]) -> str:
    """``median n_startup_trials=3 n_warmup_steps=2``: a configuration on one line."""
    options = " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in config.items()
        if k != "name"
    )
    return f"{config['name']} {options}".strip()


def pruner_factory(config: dict[str, Any], *, epochs: int) -> Callable[[], Any]:
    """A maker of the pruner hpo builds from ``config`` for a space of ``epochs`` epochs."""
    from orchestrator.config import PrunerConfig, StudyConfig
    from orchestrator.study._factories import build_pruner

    options = {k: v for k, v in config.items() if k != "name"}
    study = StudyConfig(pruner=PrunerConfig(name=config["name"], options=options))
    return lambda: build_pruner(study, epochs=epochs, source="benchmarks/pruners.py")


@dataclass(frozen=True)
class Row:
    config: dict[str, Any]
    runs: tuple[Replay, ...]  # one per recorded study (seed)

    @property
    def ratio(self) -> float:  # epochs summed over seeds: seeds weigh by what they trained
        return sum(r.epochs for r in self.runs) / sum(r.full_epochs for r in self.runs)

    @property
    def delta(self) -> float:
        return statistics.fmean(r.delta for r in self.runs)

    @property
    def meets(self) -> bool:
        return self.ratio <= TARGET_EPOCHS and self.delta >= TARGET_DELTA


def evaluate(
    studies: Sequence[tuple[Sequence[Curve], str]], configs: Sequence[dict[str, Any]], epochs: int
) -> list[Row]:
    """Every configuration replayed over every recorded study."""
    return [
        Row(
            c,
            tuple(
                replay(curves, pruner_factory(c, epochs=epochs), direction=d)
                for curves, d in studies
            ),
        )
        for c in configs
    ]


def pick(rows: Sequence[Row]) -> Row | None:
    """The winner: among configurations meeting both targets on the mean, the one whose worst
    seed loses least; then the fewer epochs. None if none meets both."""
    passing = [r for r in rows if r.meets]
    if not passing:
        return None
    return max(passing, key=lambda r: (min(x.delta for x in r.runs), -r.ratio))


def shortlist(rows: Sequence[Row], *, shipped: dict[str, Any] | None, top: int = 5) -> list[Row]:
    """The rows worth a table: ``none``, the shipped configuration, the ``top`` configurations
    meeting both targets (fewest epochs first) and, per pruner, the one with the fewest epochs
    that keeps the best within the bound (else the one that loses least)."""
    keep = [r for r in rows if r.config["name"] == "none" or r.config == shipped]
    keep += sorted((r for r in rows if r.meets), key=lambda r: r.ratio)[:top]
    for name in dict.fromkeys(r.config["name"] for r in rows):
        family = [r for r in rows if r.config["name"] == name]
        within = [r for r in family if r.delta >= TARGET_DELTA]
        keep.append(
            min(within, key=lambda r: r.ratio) if within else max(family, key=lambda r: r.delta)
        )
    winner = pick(rows)
    if winner is not None:
        keep.append(winner)
    return list({id(r): r for r in keep}.values())


def markdown(
    rows: Sequence[Row],
    *,
    seeds: Sequence[str],
    shipped: dict[str, Any] | None,
    winner: Row | None,
) -> str:
    """The table: each configuration's epochs % and Δ points per seed and on the mean."""
    head = ["pruner", *(f"seed {s}: epochs, Δ" for s in seeds), "mean epochs", "mean Δ (points)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda r: (r.ratio, -r.delta)):
        name = label(row.config)
        if row is winner:
            name = f"**{name}** (winner)"
        elif shipped is not None and row.config == shipped:
            name += " (as shipped)"
        cells = [f"{100 * r.ratio:.0f}%, {100 * r.delta:+.2f}" for r in row.runs]
        mark = "" if row.meets else " ✗"
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {100 * row.ratio:.0f}% | {100 * row.delta:+.2f}{mark} |"
        )
    return "\n".join(lines) + "\n"


def _curves_arg(text: str) -> tuple[str, str]:
    storage, sep, study = text.rpartition(":")
    if not sep or not storage or "://" in study:
        raise argparse.ArgumentTypeError(f"expected STORAGE:STUDY, got {text!r}")
    return storage, study


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", required=True, help="the space whose curves were recorded")
    parser.add_argument(
        "--curves",
        action="append",
        type=_curves_arg,
        required=True,
        help="STORAGE:STUDY of a recording with pruning off (one per seed, repeatable)",
    )
    parser.add_argument("--trials", type=int, help="replay only each study's first N trials")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--all", action="store_true", help="every candidate, not a shortlist")
    args = parser.parse_args(argv)

    import warnings

    import optuna

    from orchestrator.space import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per in-memory study
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    space = load_space(Path(args.space))
    epochs = int(space.raw["train"]["epochs"])
    shipped = {"name": space.study.pruner.name, **space.study.pruner.options}
    studies, names = [], []
    for storage, name in args.curves:
        curves, direction = load_curves(storage, name)
        studies.append((curves[: args.trials] if args.trials else curves, direction))
        names.append(name)
    configs = candidates(epochs)
    if shipped not in configs:
        configs.append(shipped)
    rows = evaluate(studies, configs, epochs)
    counts = ", ".join(f"{n}: {len(c)} trials" for n, (c, _) in zip(names, studies, strict=True))
    shown = rows if args.all else shortlist(rows, shipped=shipped)
    seeds = [n.rsplit("-", 1)[-1].removeprefix("s") for n in names]  # study names end in -s<seed>
    text = f"{args.space}, {epochs} epochs; {counts}; {len(rows)} configurations\n\n"
    text += markdown(shown, seeds=seeds, shipped=shipped, winner=pick(rows))
    winner = pick(rows)
    text += "\nwinner: " + (label(winner.config) if winner else "none meets both targets") + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
