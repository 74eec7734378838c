"""One of K processes that train at once on one device (the GPU packing benchmark).

    python benchmarks/_fit_worker.py --device cuda --epochs 20 --batch-size 64 --out w0.json \
        --ready DIR/ready-0 --go DIR/go

Imports, loads the data and builds the model first, then touches ``--ready`` and waits for the
``--go`` file, so that the K workers' training overlaps fully; then trains the throughput model with
hpo's trainer and writes its start, end and samples trained.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--go", required=True)
    args = parser.parse_args()

    import torch
    from _common import hpo_fit, throughput_config

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data
    from orchestrator.device import resolve_device, resolve_precision

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precision = resolve_precision("auto", device)
    splits = load_data(DataConfig(name="digits"), seed=0)
    config = throughput_config(batch_size=args.batch_size, epochs=1)
    hpo_fit(config, splits, device=device, seed=args.seed, precision=precision)  # warm-up
    config = throughput_config(batch_size=args.batch_size, epochs=args.epochs)
    Path(args.ready).touch()
    deadline = time.time() + 600
    while not os.path.exists(args.go) and time.time() < deadline:
        time.sleep(0.01)
    start = time.time()
    hpo_fit(config, splits, device=device, seed=args.seed, precision=precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
    end = time.time()
    samples = args.epochs * len(splits.train[1])
    with open(args.out, "w") as fh:
        json.dump({"start": start, "end": end, "samples": samples, "precision": precision}, fh)


if __name__ == "__main__":
    main()
