"""orchestrator/retrain/_run.py and `hpo retrain`: test metrics with their spread, refusals.

The end-to-end checks read the session's `hpo retrain --seeds 3` of the real tiny study
(conftest: retrained).
"""

from __future__ import annotations

from click.testing import CliRunner

from orchestrator.cli import cli


def test_retrain_reports_test_metrics_over_seeds(retrained: dict[str, str]) -> None:
    from orchestrator.study import load_study

    out = retrained["output"]
    # a line per seed, then every metric as mean +- std, per class, and the confusion matrix
    assert "[1/3] trial #" in out and "[3/3] trial #" in out
    for label in ("accuracy", "balanced accuracy", "F1 (macro)", "log loss"):
        assert f"  {label}" in out
    assert out.count(" +- ") >= 4 + 3 * 10  # 4 summary lines, 3 per class for 10 classes
    assert "confusion matrix, summed over seeds" in out
    assert "Registered models:/tiny/1" in out
    # the study remembers it: three seeds starting at the best trial's own, with a spread
    study = load_study("tiny", storage=retrained["storage"])
    summary = study.user_attrs["hpo.retrain"]
    config = summary["configs"][0]
    best = study.best_trial
    assert config["trial"] == best.number and config["rank"] == 1
    assert config["seeds"] == [best.user_attrs["seed"] + i for i in range(3)]
    assert all(0.0 <= config["mean"][f"test_{k}"] <= 1.0 for k in ("accuracy", "f1"))
    assert config["std"]["test_loss"] > 0  # different seeds give different models
    assert summary["model"]["model_uri"] == "models:/tiny/1"


def test_retrain_of_unknown_study(stores: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["retrain", "--study", "nope", "--storage", stores["storage"]])
    # bad input: issue 11 makes a study that does not exist exit 2 everywhere
    assert result.exit_code == 2
    assert "Error: no study named 'nope'" in result.output


def test_retrain_needs_a_completed_trial(stores: dict[str, str]) -> None:
    import optuna

    from orchestrator.storage import open_storage

    study = optuna.create_study(study_name="failed", storage=open_storage(stores["storage"]))
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    result = CliRunner().invoke(
        cli, ["retrain", "--study", "failed", "--storage", stores["storage"]]
    )
    assert result.exit_code == 1
    assert "has no completed trial with a stored configuration" in result.output
