"""orchestrator/report/_build.py and `hpo report`: the HTML page, its plots, its MLflow copy."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli

PLOTS = ("history", "importances", "parallel", "slice", "curves", "losses", "timeline", "confusion")


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_report_of_a_multi_objective_study(multi: dict[str, str], workdir: Path) -> None:
    from orchestrator.report import build_report

    result = build_report("multi", out=workdir / "multi.html", **multi)
    page = (workdir / "multi.html").read_text()
    # the Pareto front is drawn and listed, and the page says why pruning is off
    assert "pareto" in result.plots and 'data-plot="pareto"' in page
    assert "Pareto-optimal trials" in page
    assert "Pruning is off" in page
    # no MLflow store: no curves, said in the page rather than failing
    assert "curves" in result.skipped and result.logged_run_id is None


def _pngs(page: str) -> dict[str, bytes]:
    found = re.findall(r'data-plot="(\w+)"[^>]*src="data:image/png;base64,([^"]+)"', page)
    return {name: base64.b64decode(data) for name, data in found}


def test_report_holds_every_plot_and_is_logged(real: dict[str, str]) -> None:
    from mlflow import MlflowClient

    out = Path(real["root"]) / "report.html"
    result = _invoke(
        "report",
        "--study",
        "tiny",
        "--out",
        str(out),
        "--storage",
        real["storage"],
        "--tracking-uri",
        real["tracking_uri"],
    )
    assert result.exit_code == 0, result.output
    assert "Report of study 'tiny'" in result.output and "8 plots" in result.output
    page = out.read_text()
    pngs = _pngs(page)
    # every plot is there, as an inlined PNG
    assert set(PLOTS) <= set(pngs)
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
    # self-contained: nothing is fetched when it opens (links to MLflow runs are only links)
    assert not re.search(r'src="(https?:)?//', page) and "<link" not in page
    assert "<script" not in page
    for section in ("Summary", "Best trial", "Test split", "Leaderboard", "Failures"):
        assert f"<h2>{section}" in page
    assert "<h2>Compute used" in page
    # the test split: the confusion matrix drawn, and precision, recall and F1 of each class
    # (digits: classes 0 to 9), with its number of test samples
    assert 'data-plot="confusion"' in page
    per_class = page.split('data-table="per-class"')[1].split("</table>")[0]
    assert [f'<td class="text">{c}</td>' in per_class for c in range(10)] == [True] * 10
    assert "<th>precision</th><th>recall</th><th>F1</th><th>test samples</th>" in per_class
    # every leaderboard row links to its MLflow run, as MLflow's UI serves this local store
    board = page.split("<h2>Leaderboard")[1].split("</table>")[0]
    # in MLflow's model-training view
    run_link = r'<a href="http://127.0.0.1:5000/#/experiments/(\w+)/runs/(\w+)\?workflowType=machine_learning">'
    links = re.findall(run_link, board)
    assert len(links) == 3
    assert "hpo ui --tracking-uri sqlite:///" in page
    # logged on the study's parent run, with the plots as images
    client = MlflowClient(tracking_uri=real["tracking_uri"])
    run_id = result.output.split("Logged on MLflow run ")[1].split()[0]
    assert client.get_run(run_id).data.tags["hpo.role"] == "study"
    files = {a.path for a in client.list_artifacts(run_id, "report")}
    assert "report/report.html" in files
    plots = {a.path for a in client.list_artifacts(run_id, "report/plots")}
    assert {f"report/plots/{p}.png" for p in PLOTS} <= plots


def test_report_since_keeps_recent_trials(real: dict[str, str]) -> None:
    out = Path(real["root"]) / "morning.html"
    args = ["--storage", real["storage"], "--tracking-uri", real["tracking_uri"], "--no-mlflow"]
    result = _invoke("report", "--study", "tiny", "--since", "12h", "--out", str(out), *args)
    # every trial ran in the last 12 hours
    assert result.exit_code == 0, result.output
    assert "(3 of 3 started in the last 12h00m)" in result.output
    assert "those started in the last 12h00m" in out.read_text()
    # a window with no trial is an error that says how many there are in all
    empty = CliRunner().invoke(cli, ["report", "--study", "tiny", "--since", "1s", *args])
    assert empty.exit_code in (0, 1)
    if empty.exit_code == 1:  # (unless the last trial started less than a second ago)
        assert "has no trials started in the last 1s (3 in all)" in empty.output


def test_a_report_that_cannot_be_written_says_so_in_one_line(
    real: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report's folder would be")
    out = blocker / "report.html"
    result = CliRunner().invoke(
        cli,
        [
            "report", "--study", "tiny", "--out", str(out),
            "--storage", real["storage"], "--tracking-uri", real["tracking_uri"],
        ],
    )  # fmt: skip
    # bad input, one line naming the path, before any plot is drawn
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --out {out}: cannot make its folder")
