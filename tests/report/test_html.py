"""orchestrator/report/_html.py: the page's sections."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_page_writes_durations_as_everywhere_else(multi: dict[str, str], workdir: Path) -> None:
    from orchestrator.config import format_duration
    from orchestrator.report import build_report

    build_report("multi", out=workdir / "multi.html", since=5400, log_to_mlflow=False, **multi)
    page = (workdir / "multi.html").read_text()
    # the window in the summary, as config.format_duration writes it (and --since reads it)
    assert format_duration(5400) == "1h30m"
    assert "6 of 6: those started in the last 1h30m" in page
    # the compute table: trial time per state, here trials added without running (0s)
    assert '<td class="text">COMPLETE</td><td>6</td><td>0s</td>' in page


def _page(stores: dict[str, str], workdir: Path, name: str = "branching") -> str:
    from orchestrator.report import build_report

    build_report(name, out=workdir / "page.html", log_to_mlflow=False, **stores)
    return (workdir / "page.html").read_text()


def test_compute_counts_runs_and_processes_apart(branching: dict[str, str], workdir: Path) -> None:
    page = _page(branching, workdir)
    # two runs an hour apart, one process each: not "2 worker processes"; the wall clock is
    # each run's first trial start to last trial end (1 min each), said in the summary too
    assert "2025-01-01 22:00:00 to 23:01:00: 2m00s wall clock in 2 runs" in page
    compute = page.split("<h2>Compute used</h2>")[1]
    assert "Wall clock 2m00s in 2 runs, at most 1 worker process at a time (2 in all)." in compute
    assert "first trial&#x27;s start to its last trial&#x27;s end" in compute
    runs = compute.split('data-table="runs"')[1].split("</table>")[0]
    assert runs.count("<tr><td>") == 2
    assert (
        "<td>2025-01-01 22:00:00</td><td>2025-01-01 22:01:00</td><td>1m00s</td><td>6</td>" in runs
    )


def test_unsampled_parameters_read_not_applicable(branching: dict[str, str], workdir: Path) -> None:
    page = _page(branching, workdir)
    board = page.split("<h2>Leaderboard")[1].split("</table>")[0]
    # a parameter of the branch a trial did not take is n/a in the table, never None
    assert "<td>n/a</td>" in board and "None" not in board
    # the plots that show every parameter say what a gap means
    assert 'data-note="parallel"' in page and 'data-note="slice"' in page


def test_test_split_section(
    branching: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.report import StudyData

    evaluation = {
        "trial": 0,
        "class_names": ["cat", "dog"],
        "accuracy": 0.875,
        "per_class_precision": [1.0, 0.8],
        "per_class_recall": [0.75, 1.0],
        "per_class_f1": [0.857, 0.889],
        "confusion_matrix": [[3, 1], [0, 4]],
    }
    monkeypatch.setattr(StudyData, "test_evaluation", lambda self: evaluation)
    page = _page(branching, workdir)
    section = page.split("<h2>Test split</h2>")[1].split("<h2>")[0]
    # the confusion matrix as a heatmap, then precision, recall and F1 per class, by name
    assert 'data-plot="confusion"' in section
    assert (
        # at 4 significant digits, trailing zeros kept so that a column lines up
        '<tr><td class="text">cat</td><td>1.000</td><td>0.7500</td><td>0.8570</td><td>4</td></tr>'
        in section
    )
    assert '<td class="text">dog</td>' in section


def test_the_leaderboard_fits_a_page_and_links_to_the_named_ui(
    real: dict[str, str], workdir: Path
) -> None:
    from orchestrator.report import build_report

    out = workdir / "page.html"
    stores = {"storage": real["storage"], "tracking_uri": real["tracking_uri"]}
    build_report("tiny", out=out, log_to_mlflow=False, ui_url="https://mlflow.lab/ui/", **stores)
    page = out.read_text()
    board = page.split('data-table="leaderboard"')[1].split("</table>")[0]
    header = [h.split(">")[-1] for h in board.split("<tr>")[1].split("</th>")[:-1]]
    # who, how it ended, how good (objective, the task's other metrics), then parameters
    assert header[:5] == ["rank", "trial", "state", "objective", "val_balanced_accuracy"]
    assert "mlflow_run_id" not in header and "fail_reason" not in header
    assert not any(h.startswith("params.") for h in header)
    # the trial links open the UI the user named
    assert 'href="https://mlflow.lab/ui/#/experiments/' in board
    assert "Trial numbers link to their MLflow runs on https://mlflow.lab/ui." in page


def test_a_ui_url_that_is_no_address_is_refused_first(real: dict[str, str], workdir: Path) -> None:
    from orchestrator.errors import ConfigError
    from orchestrator.report import build_report

    with pytest.raises(ConfigError, match=r"^--ui-url mlflow.lab: not an http\(s\) address"):
        build_report(
            "tiny",
            out=workdir / "p.html",
            ui_url="mlflow.lab",
            storage=real["storage"],
            tracking_uri=real["tracking_uri"],
        )
    assert not (workdir / "p.html").exists()
