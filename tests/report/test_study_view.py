"""orchestrator/report/_study_view.py: the study Optuna's plots read, samples, importances."""

from __future__ import annotations

import subprocess
import sys


def _study(n: int) -> object:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    study = optuna.create_study(direction="maximize")
    for i in range(n):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE if i % 3 else TrialState.PRUNED,
                value=i / n,
                params={"lr": 10 ** (-1 - 3 * i / n)},
                distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
                user_attrs={"config": {"big": list(range(100))}},
            )
        )
    return study


def test_a_view_holds_the_trials_given_uncopied_with_their_numbers() -> None:
    from optuna.trial import TrialState

    from orchestrator.report._study_view import StudyView

    study = _study(9)
    kept = study.get_trials(deepcopy=False)[3:]
    view = StudyView(study, kept, metric_names=["val_accuracy"])
    # the same objects, even when a deep copy is asked for (Optuna's history asks)
    assert all(a is b for a, b in zip(view.trials, kept, strict=True))
    assert [t.number for t in view.get_trials()] == list(range(3, 9))
    assert [t.number for t in view.get_trials(states=(TrialState.PRUNED,))] == [3, 6]
    assert view.metric_names == ["val_accuracy"] and view.direction == study.direction
    assert view.best_trial.number == 8


def test_a_sample_is_seeded_and_by_number() -> None:
    from orchestrator.report._study_view import sample_of

    trials = _study(30).get_trials(deepcopy=False)
    first = [t.number for t in sample_of(trials, 10, seed=0)]
    # 10 of 30, by number; the same seed gives the same sample, another seed another
    assert len(first) == 10 and first == sorted(first)
    assert [t.number for t in sample_of(list(reversed(trials)), 10, seed=0)] == first
    assert [t.number for t in sample_of(trials, 10, seed=1)] != first
    # no more trials than the sample holds: every one
    assert len(sample_of(trials[:5], 10, seed=0)) == 5


def test_importances_need_no_scikit_learn() -> None:
    # PED-ANOVA and Optuna's plots, imported without scikit-learn (1.5 s of imports); it stays
    # importable for whatever asks for it later
    code = (
        "import sys\n"
        "from orchestrator.report._study_view import optuna_importance\n"
        "importance = optuna_importance()\n"
        "import optuna.visualization.matplotlib\n"
        "print('sklearn' in sys.modules, hasattr(importance, 'PedAnovaImportanceEvaluator'))\n"
        "import sklearn\n"
        "print('sklearn' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]
