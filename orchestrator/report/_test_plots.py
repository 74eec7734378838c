"""The static page's plots of the test split, as its task shows it: the confusion matrix of
classes; the ROC, precision-recall and calibration curves of a binary task; predicted against
actual values and the residuals of a regression. Each a matplotlib figure of the evaluation that
the study's end logged (``test_evaluation.json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.numbers import fmt_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLORS", "_calibration", "_confusion", "_residuals", "_roc"]

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _confusion(evaluation: dict[str, Any]) -> Figure:
    """The test split's confusion matrix as a heatmap: rows the true class, columns the
    predicted one, each cell its count (up to 20 classes)."""
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.asarray(evaluation["confusion_matrix"])
    names = [str(n) if len(str(n)) <= 16 else str(n)[:15] + "~" for n in evaluation["class_names"]]
    k = len(names)
    side = min(max(4.0, 0.45 * k + 2.0), 14.0)
    figure, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(matrix, cmap="Blues")
    tilt = 45 if max(len(n) for n in names) > 3 else 0
    ax.set_xticks(range(k), names, rotation=tilt, ha="right" if tilt else "center")
    ax.set_yticks(range(k), names)
    if k <= 20:
        high = matrix.max() / 2 if matrix.size else 0
        for (row, col), count in np.ndenumerate(matrix):  # zeros faint: the errors stand out
            color = "white" if count > high else ("black" if count else "#bbbbbb")
            ax.text(col, row, str(count), ha="center", va="center", color=color, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"trial #{evaluation.get('trial')}: {int(matrix.sum())} test samples")
    figure.colorbar(image, ax=ax, label="samples", shrink=0.8)
    return figure


def _roc(evaluation: dict[str, Any]) -> Figure:
    """A binary task's ROC curve and precision-recall curve of the test split, side by side,
    each with its area and the chance level."""
    import matplotlib.pyplot as plt

    curves = evaluation["curves"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.4))
    roc, pr = curves["roc"], curves["pr"]
    left.plot(roc["x"], roc["y"], color=COLORS[0], lw=2)
    left.plot([0, 1], [0, 1], color="#999999", ls="--", lw=1, label="chance")
    left.set_title(f"ROC curve (AUC {_number(evaluation.get('roc_auc'))})")
    left.set_xlabel("false positive rate")
    left.set_ylabel("true positive rate")
    share = float(curves.get("positive_share", 0.0))
    right.plot(pr["x"], pr["y"], color=COLORS[1], lw=2, drawstyle="steps-post")
    right.axhline(share, color="#999999", ls="--", lw=1, label=f"chance ({share:.2f})")
    right.set_title(f"precision-recall (average precision {_number(evaluation.get('pr_auc'))})")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    positive = _positive(evaluation)
    for ax in (left, right):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is left else "lower left", fontsize=8)
    figure.suptitle(f"trial #{evaluation.get('trial')}: positive class {positive!r}", fontsize=10)
    figure.tight_layout()
    return figure


def _calibration(evaluation: dict[str, Any]) -> Figure:
    """A binary task's calibration on the test split: the observed share of positives against
    the predicted probability, in bins (a well calibrated model lies on the diagonal), and how
    many samples each bin holds."""
    import matplotlib.pyplot as plt

    calibration = evaluation["curves"]["calibration"]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.6, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], color="#999999", ls="--", lw=1, label="perfectly calibrated")
    top.plot(
        calibration["predicted"], calibration["observed"], "o-", color=COLORS[0], label="model"
    )
    top.set_ylabel("observed share of positives")
    top.set_ylim(-0.02, 1.02)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    brier = _number(evaluation.get("brier"))
    top.set_title(f"calibration of {_positive(evaluation)!r} (Brier score {brier})")
    counts = calibration.get("counts") or []
    bottom.bar(calibration["predicted"][: len(counts)], counts, width=0.08, color=COLORS[0])
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("samples")
    bottom.set_xlim(0, 1)
    figure.tight_layout()
    return figure


def _residuals(evaluation: dict[str, Any]) -> Figure:
    """A regression on the test split: predicted against actual values (the diagonal is a
    perfect prediction) and the residuals (actual less predicted) against the prediction."""
    import matplotlib.pyplot as plt
    import numpy as np

    pairs = evaluation["pairs"]
    actual, predicted = np.asarray(pairs["actual"]), np.asarray(pairs["predicted"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.4))
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    alpha = 0.7 if len(actual) < 500 else 0.3
    left.scatter(actual, predicted, s=12, alpha=alpha, color=COLORS[0])
    left.plot([low, high], [low, high], color="#999999", ls="--", lw=1, label="perfect")
    left.set_xlabel("actual")
    left.set_ylabel("predicted")
    left.set_title(
        f"predicted against actual (RMSE {_number(evaluation.get('rmse'))}, "
        f"R² {_number(evaluation.get('r2'))})"
    )
    left.legend(loc="upper left", fontsize=8)
    residual = actual - predicted
    right.scatter(predicted, residual, s=12, alpha=alpha, color=COLORS[1])
    right.axhline(0, color="#999999", ls="--", lw=1)
    right.set_xlabel("predicted")
    right.set_ylabel("residual (actual - predicted)")
    right.set_title(f"residuals (MAE {_number(evaluation.get('mae'))})")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    figure.suptitle(f"trial #{evaluation.get('trial')}: {len(actual)} test samples", fontsize=10)
    figure.tight_layout()
    return figure


def _positive(evaluation: dict[str, Any]) -> str:
    names = evaluation.get("class_names") or ["", "positive"]
    return str(names[-1])


def _number(value: Any) -> str:
    return fmt_number(None if value is None else float(value))
