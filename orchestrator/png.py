"""Figures as PNG bytes: one figure, or several images as one grid (the report's plots and the
pictures of ``hpo explain``)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "figure_png", "grid_png"]

DPI = 100


def grid_png(pngs: list[bytes], *, columns: int) -> bytes:
    """PNG images side by side, ``columns`` to a row, on white, as one PNG."""
    import matplotlib.pyplot as plt
    import numpy as np

    images = [plt.imread(io.BytesIO(png))[..., :3] for png in pngs]
    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    cells = [np.ones((height, width, 3), dtype=np.float32) for _ in images]
    for cell, image in zip(cells, images, strict=True):
        cell[: image.shape[0], : image.shape[1]] = image
    while len(cells) % columns and len(cells) > columns:
        cells.append(np.ones((height, width, 3), dtype=np.float32))
    rows = [np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)]
    buffer = io.BytesIO()
    plt.imsave(buffer, np.clip(np.vstack(rows), 0.0, 1.0), format="png")
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()
