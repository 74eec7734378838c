"""The pictures of an explanation, as PNG bytes (matplotlib, no screen).

Colours say the same thing in every picture: red pushes towards the output explained (the
class predicted, the label, a larger value), blue away from it; heat maps of magnitude are
yellow where the network looks most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.png import figure_png

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.explain._importance import ColumnImportance

__all__ = [
    "Example",
    "Panel",
    "error_gallery",
    "image_figure",
    "importance_figure",
    "sequence_figure",
    "text_figure",
]

MAX_BARS = 20  # columns drawn; the rest are in explanation.json
MAX_TOKENS = 60  # tokens of a text drawn


@dataclass
class Example:
    """One test sample shown: where it is in the test split, what it was and what was said."""

    index: int
    actual: str
    predicted: str
    right: bool
    confidence: float
    badness: float

    @property
    def caption(self) -> str:
        known = self.confidence == self.confidence  # NaN for values
        said = f"{self.predicted} ({self.confidence:.0%})" if known else self.predicted
        return f"{'right' if self.right else 'wrong'}: {self.actual} -> {said}"


def importance_figure(columns: list[ColumnImportance], *, metric: str, repeats: int) -> bytes:
    """Permutation importance (bars, the spread over repeats as whiskers) beside the mean
    absolute integrated gradients, the columns in the order of the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = sorted(columns, key=lambda c: c.mean, reverse=True)[:MAX_BARS][::-1]
    names = [c.column for c in shown]
    height = 1.2 + 0.32 * len(shown)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    left.barh(names, [c.mean for c in shown], xerr=[c.std for c in shown], color="#4c72b0")
    left.axvline(0, color="#444", linewidth=0.8)
    left.set_xlabel(f"drop of {metric} when shuffled ({repeats} repeats)")
    left.set_title("permutation importance (test split)")
    right.barh(names, [c.attribution for c in shown], color="#dd8452")
    right.set_xlabel("mean |integrated gradients|")
    right.set_title("integrated gradients")
    if len(columns) > len(shown):
        figure.text(0.01, 0.0, f"the {len(shown)} most important of {len(columns)} columns")
    figure.tight_layout()
    return figure_png(figure)


def _colour(example: Example) -> str:
    return "black" if example.right else "#c0392b"


def _displayable(image: np.ndarray) -> np.ndarray:
    """A ``(C, H, W)`` sample as ``(H, W)`` or ``(H, W, 3)`` in [0, 1]."""
    import numpy as np

    lo, hi = float(image.min()), float(image.max())
    scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return scaled[0] if scaled.shape[0] != 3 else scaled.transpose(1, 2, 0)


def _show(axis: object, image: np.ndarray) -> None:
    shown = _displayable(image)
    axis.imshow(shown, cmap="gray" if shown.ndim == 2 else None)  # type: ignore[attr-defined]
    axis.set_xticks([])  # type: ignore[attr-defined]
    axis.set_yticks([])  # type: ignore[attr-defined]


@dataclass
class Panel:
    """An image, its integrated gradients ``(C, H, W)`` and its Grad-CAM ``(H, W)`` (None for a
    network without convolutions)."""

    example: Example
    image: np.ndarray
    gradients: np.ndarray
    cam: np.ndarray | None


def image_figure(rows: list[tuple[Panel | None, Panel | None]]) -> bytes:
    """One row per class: its most confident right prediction beside its most confident wrong
    one, each as the image, its integrated gradients (summed over the colours; red for the
    class predicted, blue against) and, for a convolutional network, Grad-CAM over the image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with_cam = any(p is not None and p.cam is not None for row in rows for p in row)
    per_side = 3 if with_cam else 2
    figure, axes = plt.subplots(
        len(rows), 2 * per_side, figsize=(1.7 * 2 * per_side, 1.9 * len(rows)), squeeze=False
    )
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for r, row in enumerate(rows):
        for side, panel in enumerate(row):
            cells = axes[r][side * per_side : (side + 1) * per_side]
            if panel is None:
                for axis in cells:
                    axis.axis("off")
                cells[0].text(0.5, 0.5, "none", ha="center", va="center", color="#888")
                continue
            _show(cells[0], panel.image)
            cells[0].set_title(panel.example.caption, fontsize=7, color=_colour(panel.example))
            heat = panel.gradients.sum(axis=0)
            bound = float(np.abs(heat).max()) or 1.0
            cells[1].imshow(heat, cmap="bwr", vmin=-bound, vmax=bound)
            if with_cam and panel.cam is not None:
                _show(cells[2], panel.image)
                cells[2].imshow(panel.cam, cmap="inferno", alpha=0.55)
    for side, words in enumerate(("right", "wrong")):
        base = side * per_side
        axes[0][base + 1].set_xlabel("")
        figure.text(
            (base + per_side / 2) / (2 * per_side),
            1.0,
            f"most confident {words}",
            ha="center",
            va="bottom",
            fontsize=9,
            weight="bold",
        )
    titles = ["", "integrated gradients", "Grad-CAM"][:per_side]
    for side in range(2):
        for c, title in enumerate(titles):
            if title:
                axes[-1][side * per_side + c].set_xlabel(title, fontsize=7)
    figure.tight_layout()
    return figure_png(figure)


def error_gallery(examples: list[Example], images: np.ndarray, *, columns: int = 5) -> bytes:
    """The worst errors as a gallery: each image with what it was and what was said."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(examples) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.8 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, example, image in zip(axes.flat, examples, images, strict=False):
        _show(axis, image)
        axis.axis("on")
        axis.set_title(
            f"{example.actual} -> {example.predicted}\n{example.badness:.3g}", fontsize=8
        )
    figure.tight_layout()
    return figure_png(figure)


def sequence_figure(examples: list[Example], signals: np.ndarray, gradients: np.ndarray) -> bytes:
    """One panel per example: the signal (its first channels) over the time steps, the
    attribution of each step (summed over the channels) as the colour behind it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(len(examples), 1, figsize=(9, 1.7 * len(examples)), squeeze=False)
    for axis, example, signal, grads in zip(axes[:, 0], examples, signals, gradients, strict=True):
        steps = grads.sum(axis=0)
        bound = float(np.abs(steps).max()) or 1.0
        lo, hi = float(signal.min()), float(signal.max())
        pad = (hi - lo) * 0.05 or 1.0
        axis.imshow(
            steps[None, :],
            cmap="bwr",
            vmin=-bound,
            vmax=bound,
            aspect="auto",
            extent=(-0.5, len(steps) - 0.5, lo - pad, hi + pad),
            alpha=0.6,
        )
        for channel in signal[:3]:
            axis.plot(channel, color="black", linewidth=1)
        axis.set_xlim(-0.5, len(steps) - 0.5)
        axis.set_title(example.caption, fontsize=8, loc="left", color=_colour(example))
        axis.set_yticks([])
    axes[-1][0].set_xlabel("time step (colour: integrated gradients, red for, blue against)")
    figure.tight_layout()
    return figure_png(figure)


def text_figure(examples: list[Example], texts: list[list[tuple[str, float]]]) -> bytes:
    """Each text's tokens on a background coloured by their attribution (red for the output
    explained, blue against), most confident right and wrong predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = matplotlib.colormaps["bwr"]
    lines_per = [max(1, (min(len(t), MAX_TOKENS) + 11) // 12) for t in texts]
    figure = plt.figure(figsize=(10, 0.45 * (sum(lines_per) + 2 * len(texts)) + 0.3))
    total = sum(lines_per) + 2 * len(texts)
    line = 0
    for example, tokens, lines in zip(examples, texts, lines_per, strict=True):
        y = 1 - (line + 0.8) / total
        figure.text(0.01, y, example.caption, fontsize=9, weight="bold", color=_colour(example))
        line += 1
        shown = tokens[:MAX_TOKENS]
        bound = max((abs(v) for _, v in shown), default=1.0) or 1.0
        for i, (token, value) in enumerate(shown):
            row, col = divmod(i, 12)
            figure.text(
                0.01 + col * 0.082,
                1 - (line + row + 0.8) / total,
                token[:10],
                fontsize=8,
                bbox={
                    "facecolor": colours(0.5 + 0.5 * value / bound),
                    "edgecolor": "none",
                    "pad": 1.5,
                },
            )
        line += lines + 1
    return figure_png(figure)
