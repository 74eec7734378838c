"""Take the screenshots the docs show (docs/img/*.png): a report and its section on what the
winner looks at, the runs table `hpo ui` opens, and the winning trial's page in MLflow's UI.

    python docs/screenshots.py        # about 3 minutes on 2 cores; needs Debian's `chromium`

It runs a small study of search_spaces/cnn.yaml in a temporary folder (12 trials of 4 epochs),
writes its report, starts `hpo ui` on a free port, and has headless Chromium render the pages.
Nothing outside the temporary folder is touched but docs/img/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
STUDY = "digits-cnn"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def hpo(*args: str, cwd: Path) -> str:
    """Run an hpo command in ``cwd``; its output. A failure stops the script with it."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"hpo {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def shoot(url: str, out: Path, *, size: str, profile: Path, wait_ms: int) -> None:
    """A PNG of ``url`` as headless Chromium renders it after ``wait_ms`` of page time."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Chromium is needed: apt-get install -y chromium")
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    print(f"wrote {out.relative_to(ROOT)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "search_spaces" / "cnn.yaml", work / "cnn.yaml")
        print("running a small study (12 trials of 4 epochs) ...", flush=True)
        hpo("run", "--space", "cnn.yaml", "--n-trials", "12", "--set", "train.epochs=4", cwd=work)
        hpo("report", "--study", STUDY, "--out", "report.html", cwd=work)
        shoot(
            (work / "report.html").as_uri(),
            IMG / "report.png",
            size="1280,2400",
            profile=work / "chromium",
            wait_ms=5000,
        )
        # the section hpo explain fills, alone on a page of the report's own style (headless
        # Chromium's screenshot is of the top of a page, scrolled or not)
        page = (work / "report.html").read_text()
        start = page.index('<h2 id="explain">')
        end = page.index("<h2", start + 1)
        head = page[: page.index("<body>") + len("<body>")]
        (work / "explain.html").write_text(head + page[start:end] + "</body></html>")
        shoot(
            (work / "explain.html").as_uri(),
            IMG / "report-explain.png",
            size="1280,1500",
            profile=work / "chromium",
            wait_ms=5000,
        )
        port = free_port()
        log = work / "ui.log"
        with log.open("w") as out:
            ui = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "ui", "--port", str(port), "--study", STUDY],
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=2)
                    break
                except OSError:
                    time.sleep(1)
            else:
                sys.exit("hpo ui did not answer within 5 minutes")
            # the address hpo ui prints for the study: its runs table, sorted by the objective
            said = [line for line in log.read_text().splitlines() if "its runs: " in line]
            if not said:
                sys.exit(f"hpo ui printed no runs table:\n{log.read_text()}")
            runs = said[0].split("its runs: ", 1)[1].strip()
            shoot(
                runs, IMG / "mlflow-runs.png", size="2000,900", profile=work / "c2", wait_ms=20000
            )
            # the winner's run: opens in the model-training view (overview, metrics, its model)
            best = json.loads(hpo("best", "--study", STUDY, "--json", cwd=work))
            experiment = runs.split("/#/experiments/", 1)[1].split("/", 1)[0]
            run_id = best["mlflow_run_id"]
            trial = f"{base}/#/experiments/{experiment}/runs/{run_id}?workflowType=machine_learning"
            shoot(
                trial,
                IMG / "mlflow-trial.png",
                size="1600,1000",
                profile=work / "c3",
                wait_ms=20000,
            )
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=60)


if __name__ == "__main__":
    main()
