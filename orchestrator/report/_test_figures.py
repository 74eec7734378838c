"""The interactive page's figures of the test split, as its task shows it: the confusion matrix
of classes; the ROC, precision-recall and calibration curves of a binary task; predicted against
actual values and the residuals of a regression (plotly figures of the evaluation the study's end
logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["_calibration", "_confusion", "_residuals", "_roc"]


def _confusion(evaluation: dict[str, Any]) -> go.Figure:
    """The test split's confusion matrix as a heatmap: rows the true class, columns predicted."""
    import plotly.graph_objects as go

    names = [str(n) for n in evaluation["class_names"]]
    matrix = evaluation["confusion_matrix"]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Blues",
            text=matrix if len(names) <= 20 else None,
            texttemplate="%{text}" if len(names) <= 20 else None,
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
            colorbar={"title": "samples"},
        )
    )
    side = max(400, min(900, 40 * len(names) + 200))
    figure.update_layout(
        title=f"trial #{evaluation.get('trial')}: {sum(map(sum, matrix))} test samples",
        xaxis={"title": "predicted class", "type": "category"},
        yaxis={"title": "true class", "type": "category", "autorange": "reversed"},
        width=side + 100,
        height=side,
    )
    return figure


def _roc(evaluation: dict[str, Any]) -> list[go.Figure]:
    """A binary task's ROC and precision-recall curves of the test split, with chance levels."""
    import plotly.graph_objects as go

    curves = evaluation["curves"]
    roc, pr = curves["roc"], curves["pr"]
    share = float(curves.get("positive_share", 0.0))
    left = go.Figure()
    left.add_scatter(x=roc["x"], y=roc["y"], name="model", mode="lines")
    left.add_scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line={"dash": "dash"})
    left.update_layout(
        title=f"ROC curve (AUC {evaluation.get('roc_auc', float('nan')):.4g})",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        width=520,
        height=440,
    )
    right = go.Figure()
    right.add_scatter(x=pr["x"], y=pr["y"], name="model", mode="lines", line={"shape": "hv"})
    right.add_scatter(
        x=[0, 1], y=[share, share], name=f"chance ({share:.2f})", mode="lines",
        line={"dash": "dash"},
    )  # fmt: skip
    right.update_layout(
        title=f"precision-recall (average precision {evaluation.get('pr_auc', float('nan')):.4g})",
        xaxis_title="recall",
        yaxis_title="precision",
        width=520,
        height=440,
    )
    return [left, right]


def _calibration(evaluation: dict[str, Any]) -> go.Figure:
    """A binary task's calibration: the observed share of positives per bin of predicted
    probability, against the diagonal of a perfectly calibrated model."""
    import plotly.graph_objects as go

    calibration = evaluation["curves"]["calibration"]
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1], y=[0, 1], name="perfectly calibrated", mode="lines", line={"dash": "dash"}
    )
    figure.add_scatter(
        x=calibration["predicted"],
        y=calibration["observed"],
        name="model",
        mode="lines+markers",
        text=[str(c) for c in calibration.get("counts") or []],
        hovertemplate="predicted %{x:.3f}, observed %{y:.3f}, %{text} samples<extra></extra>",
    )
    figure.update_layout(
        title=f"calibration (Brier score {evaluation.get('brier', float('nan')):.4g})",
        xaxis_title="predicted probability",
        yaxis_title="observed share of positives",
        width=560,
        height=460,
    )
    return figure


def _residuals(evaluation: dict[str, Any]) -> list[go.Figure]:
    """A regression on the test split: predicted against actual values, and the residuals."""
    import plotly.graph_objects as go

    actual, predicted = evaluation["pairs"]["actual"], evaluation["pairs"]["predicted"]
    low, high = min(*actual, *predicted), max(*actual, *predicted)
    left = go.Figure()
    left.add_scatter(x=actual, y=predicted, mode="markers", name="test samples")
    left.add_scatter(x=[low, high], y=[low, high], mode="lines", name="perfect",
                     line={"dash": "dash"})  # fmt: skip
    left.update_layout(
        title=f"predicted against actual (RMSE {evaluation.get('rmse', float('nan')):.4g})",
        xaxis_title="actual",
        yaxis_title="predicted",
        width=520,
        height=440,
    )
    right = go.Figure()
    right.add_scatter(
        x=predicted, y=[a - p for a, p in zip(actual, predicted, strict=True)], mode="markers"
    )
    right.add_hline(y=0, line={"dash": "dash"})
    right.update_layout(
        title="residuals (actual - predicted)",
        xaxis_title="predicted",
        yaxis_title="residual",
        width=520,
        height=440,
        showlegend=False,
    )
    return [left, right]
