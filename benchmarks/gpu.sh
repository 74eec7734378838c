#!/usr/bin/env bash
# GPU benchmarks: the overhead and throughput pair on CUDA, and K = 1, 2, 4, 8 trials packed on one
# GPU, into section 7 of benchmarks/RESULTS.md. Prints a skip line and exits 0 without a CUDA device.
#   bash benchmarks/gpu.sh                    # with the project's environment active
#   bash benchmarks/gpu.sh --out /tmp/gpu     # options pass on to benchmarks/run.py
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! command -v nvidia-smi >/dev/null 2>&1 && [ ! -e /dev/nvidia0 ]; then
  echo "gpu: skipped: no CUDA device (no nvidia-smi, no /dev/nvidia0)"
  exit 0
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "gpu: $PYTHON cannot import torch; activate the project's environment first" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu: skipped: no CUDA device (torch.cuda.is_available() is False)"
  exit 0
fi
exec "$PYTHON" benchmarks/run.py --only gpu "$@"
