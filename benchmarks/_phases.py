"""Run the ``hpo`` command line exactly as the ``hpo`` script does, writing to the JSON file named
by ``HPO_BENCH_PROBE`` when its command began and ended (``time.time()``), beside the launch time
(``HPO_BENCH_LAUNCH``, set by the benchmark just before it starts the process). Section 16 tells
a command's start-up, its own work and the interpreter's exit apart with them."""

from __future__ import annotations

import json
import os
import sys
import time

if __name__ == "__main__":
    record = {"launch": float(os.environ.get("HPO_BENCH_LAUNCH") or time.time())}
    from orchestrator.cli import main

    record["started"] = time.time()
    sys.argv[0] = "hpo"
    try:
        main()
    finally:
        record["ended"] = time.time()
        path = os.environ.get("HPO_BENCH_PROBE")
        if path:
            with open(path, "w") as handle:
                json.dump(record, handle)
