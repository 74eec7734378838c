"""orchestrator/explain/_run.py and `hpo explain`: a tiny study's winner explained on its test
split, written to a folder, logged as explain/ on its MLflow run and remembered by the study
(tables of every task: tests/tasks/test_studies.py)."""

from __future__ import annotations

import json

import pytest

from tests.tasks.conftest import invoke

SPACE = """\
study: {name: seen, n_trials: 2, seed: 0, sampler: random, pruner: none}
data: {name: digits}
model:
  family: cnn
train:
  epochs: 2
  batch_size: 64
  optimizer: {name: adam, lr: 3.0e-3}
"""


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("explain")
    (root / "seen.yaml").write_text(SPACE)
    stores = ("--storage", str(root / "optuna.journal"), "--tracking-uri", f"sqlite:///{root}/m.db")
    invoke(root, "run", "--space", "seen.yaml", "--threads", "1", *stores)
    out = invoke(root, "explain", "--study", "seen", "--samples", "60", "--out", "why", *stores)
    return {"root": root, "stores": stores, "out": out, "tracking_uri": f"sqlite:///{root}/m.db"}


def test_explain_writes_pictures_and_numbers_of_the_best_trial(explained: dict) -> None:
    from orchestrator.study import best_trial, load_study

    folder = explained["root"] / "why"
    numbers = json.loads((folder / "explanation.json").read_text())
    study = load_study("seen", storage=str(explained["root"] / "optuna.journal"))
    assert numbers["trial"] == best_trial(study).number
    assert numbers["kind"] == "image" and numbers["family"] == "cnn"
    # integrated gradients and Grad-CAM of right and wrong images, and the worst errors
    for name in ("images", "errors"):
        assert (folder / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(numbers["pictures"]) == ["errors", "images"] and numbers["skipped"] == {}
    # the worst errors are wrong, worst first, each with its row in the source data
    errors = numbers["errors"]
    assert errors and all(not e["right"] and e["actual"] != e["predicted"] for e in errors)
    assert [e["badness"] for e in errors] == sorted((e["badness"] for e in errors), reverse=True)
    assert all(0 <= e["row"] < 1797 for e in errors)
    assert "Worst errors (of the test split; probability of the wrong classes)" in explained["out"]
    assert "Logged explain/ on the MLflow run of trial" in explained["out"]


def test_explain_logs_on_the_trials_run_and_the_study_remembers_it(explained: dict) -> None:
    from mlflow import MlflowClient

    from orchestrator.explain import ATTR_EXPLAIN
    from orchestrator.study import load_study

    study = load_study("seen", storage=str(explained["root"] / "optuna.journal"))
    summary = study.user_attrs[ATTR_EXPLAIN]
    client = MlflowClient(tracking_uri=explained["tracking_uri"])
    logged = {a.path for a in client.list_artifacts(summary["run_id"], "explain")}
    assert logged == {"explain/explanation.json", "explain/images.png", "explain/errors.png"}
    assert summary["trial"] == study.best_trial.number
    # images attribute what they show: a right and a wrong image per class, at most
    assert 10 <= summary["samples"] <= 20


def test_explain_refuses_a_trial_the_study_lacks(explained: dict) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli

    result = CliRunner().invoke(
        cli, ["explain", "--study", "seen", "--trial", "99", *explained["stores"]]
    )
    assert result.exit_code == 2
    assert "Error: --trial 99: study 'seen' has no such trial (trials 0 to 1)" in result.output


def test_the_report_shows_the_winners_last_explanation(explained: dict) -> None:
    root = explained["root"]
    out = invoke(root, "report", "--study", "seen", "--out", "r.html", *explained["stores"])
    page = (root / "r.html").read_text()
    assert "what the winner looks at: trial #" in out
    assert '<h2 id="explain">What the winner looks at</h2>' in page
    # read back from the trial's run, as hpo explain logged it: its pictures inlined
    assert "explained 20" in page and "explained for this report" not in page
    assert 'data-explain="images"' in page and 'data-explain="errors"' in page
    assert '<table data-table="errors">' in page
    invoke(
        root,
        "report",
        "--study",
        "seen",
        "--out",
        "plain.html",
        "--no-explain",
        *explained["stores"],
    )
    assert 'id="explain"' not in (root / "plain.html").read_text()


def test_a_report_whose_explanation_fails_still_gets_written(
    explained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.explain
    from orchestrator.report import _explain, build_report

    def unreadable(*_: object) -> None:
        raise OSError("artifact store unreachable")

    def failing(*_: object, **__: object) -> None:
        raise RuntimeError("Captum could not differentiate this network")

    monkeypatch.setattr(_explain, "_read_back", unreadable)
    monkeypatch.setattr(orchestrator.explain, "explain", failing)
    root = explained["root"]
    result = build_report(
        "seen",
        storage=str(root / "optuna.journal"),
        tracking_uri=explained["tracking_uri"],
        out=root / "failed.html",
        log_to_mlflow=False,
    )
    page = (root / "failed.html").read_text()
    assert result.explained is None
    assert result.explain_failure == "Captum could not differentiate this network"
    assert 'data-explain="failed"' in page and "hpo explain --study seen --trial" in page


def test_explain_a_shipped_model_on_the_test_split_of_its_trial(explained: dict) -> None:
    from orchestrator.explain import ATTR_EXPLAIN
    from orchestrator.study import load_study

    root = explained["root"]
    study = load_study("seen", storage=str(root / "optuna.journal"))
    shipped = study.user_attrs["hpo.model"]  # the best trial's network, logged at the run's end
    out = invoke(
        root,
        "explain",
        "--study",
        "seen",
        "--model",
        shipped["uri"],
        "--samples",
        "20",
        "--out",
        "shipped",
        *explained["stores"],
    )
    numbers = json.loads((root / "shipped" / "explanation.json").read_text())
    assert numbers["model"] == shipped["uri"] and numbers["trial"] == shipped["trial"]
    assert "images" in numbers["pictures"]
    assert f"Logged explain/ on the MLflow run of {shipped['uri']}" in out
    # the study still remembers the explanation of the trial, for the report
    remembered = load_study("seen", storage=str(root / "optuna.journal")).user_attrs[ATTR_EXPLAIN]
    assert remembered["model"] is None and remembered["trial"] == shipped["trial"]


def test_an_unwritable_out_is_refused_before_anything_is_logged(explained: dict) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import cli
    from orchestrator.explain import ATTR_EXPLAIN
    from orchestrator.study import load_study

    root = explained["root"]
    (root / "a-file").write_text("")
    storage = str(root / "optuna.journal")
    before = load_study("seen", storage=storage).user_attrs[ATTR_EXPLAIN]
    result = CliRunner().invoke(
        cli, ["explain", "--study", "seen", "--out", str(root / "a-file" / "why"),
              *explained["stores"]],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for --out" in result.output and "cannot make it" in result.output
    # the study still remembers the explanation it had
    assert load_study("seen", storage=storage).user_attrs[ATTR_EXPLAIN] == before
