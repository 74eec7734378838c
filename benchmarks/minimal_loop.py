"""The baseline: a minimal hand-written PyTorch loop that trains the same configurations as hpo.

What a careful person writes by hand for one configuration, and nothing more:

- the model from ``orchestrator.models.build_model`` (the very network hpo trains, same seed);
- the data tensors from ``orchestrator.data.load_data`` (the same split, on the device once);
- the same optimizer (fused Adam/AdamW where the device has it, as hpo's trainer), label smoothing
  and gradient clipping when the configuration asks for them;
- per-epoch ``randperm`` slicing, the forward under autocast when the precision is mixed;
- validation accuracy after every epoch under ``inference_mode``.

No learning-rate schedule (the benchmarks fix ``train.schedule=none``), no other metrics, no
callbacks, no logging, no checkpoints.

As a script it trains a list of resolved configurations and writes when each started and ended::

    python benchmarks/minimal_loop.py CONFIGS.json --out timings.json [--device cpu] [--threads 1]

``CONFIGS.json`` holds ``{"study_seed": 0, "configs": [{"seed": ..., "config": {...}}, ...]}``
where each ``config`` is a trial's resolved configuration (``TrialConfig.to_dict()``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext
from typing import Any


def build_optimizer(model: Any, cfg: dict[str, Any]) -> Any:
    """The optimizer a config names, over all parameters (no per-group weight decay)."""
    import torch

    name, lr, wd = cfg["name"], cfg["lr"], cfg.get("weight_decay", 0.0)
    params = list(model.parameters())
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"], weight_decay=wd
        )
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        betas = (cfg["beta1"], cfg["beta2"])
        try:
            return cls(params, lr=lr, betas=betas, weight_decay=wd, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return cls(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=cfg["alpha"], momentum=cfg["momentum"], weight_decay=wd
        )
    raise ValueError(f"minimal loop: unknown optimizer {name!r}")


def train(
    config: dict[str, Any],
    splits: Any,
    *,
    device: Any,
    seed: int,
    precision: str = "32",
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train one resolved configuration; returns epochs, samples seen and best val accuracy."""
    import torch
    from torch import nn

    from orchestrator.models import build_model, family_config

    device = torch.device(device)
    model_cfg = family_config(config["model"]["family"]).model_validate(config["model"])
    model = build_model(model_cfg, splits.spec, seed=seed).to(device)
    tcfg = config["train"]
    if tcfg["schedule"]["name"] != "none":
        raise ValueError("minimal loop: only train.schedule=none is implemented")
    epochs = epochs or tcfg["epochs"]
    batch_size = tcfg["batch_size"]
    optimizer = build_optimizer(model, tcfg["optimizer"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=tcfg["label_smoothing"])
    clip = tcfg.get("grad_clip")
    if precision == "32":
        autocast: Any = nullcontext
    else:
        dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16

        def autocast() -> Any:
            return torch.autocast(device_type=device.type, dtype=dtype)

    x, y = (t.to(device) for t in splits.train)
    xv, yv = (t.to(device) for t in splits.val)
    n = len(y)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    best = 0.0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            if len(idx) < 2:  # a batch of one sample would break BatchNorm
                continue
            with autocast():
                loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.inference_mode(), autocast():
            accuracy = (model(xv).argmax(dim=1) == yv).float().mean().item()
        model.train()
        best = max(best, accuracy)
    return {"epochs": epochs, "samples": epochs * n, "best_val_accuracy": best}


def main(argv: list[str] | None = None) -> None:
    launch = float(os.environ.get("HPO_BENCH_LAUNCH") or time.time())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", help="JSON file of resolved configurations")
    parser.add_argument("--out", required=True, help="where to write the timings (JSON)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data
    from orchestrator.device import resolve_device, resolve_precision

    torch.set_num_threads(args.threads)
    with open(args.configs) as fh:
        spec = json.load(fh)
    device = resolve_device(args.device)
    precision = resolve_precision("auto", device)
    first = spec["configs"][0]["config"]
    splits = load_data(DataConfig.model_validate(first["data"]), seed=spec["study_seed"])
    trainings = []
    for item in spec["configs"]:
        start = time.time()
        result = train(
            item["config"], splits, device=device, seed=item["seed"], precision=precision
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        trainings.append({"start": start, "end": time.time(), **result})
    with open(args.out, "w") as fh:
        json.dump({"launch": launch, "trainings": trainings, "exit": time.time()}, fh)


if __name__ == "__main__":
    main()
