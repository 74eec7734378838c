"""NumPy archives and image folders."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.data._cache import cache_key, cache_root, cached_arrays
from orchestrator.data._split import make_splits
from orchestrator.data._table import require_path
from orchestrator.errors import DataError, first_line

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.config import DataConfig
    from orchestrator.data._spec import Splits

__all__ = ["IMAGE_SUFFIXES", "load_images", "load_npz", "read_image"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


# --- npz -----------------------------------------------------------------------------------------


def load_npz(config: DataConfig, *, seed: int) -> Splits:
    """A ``.npz`` archive with samples ``x`` and targets ``y`` (``data.x_key``/``data.y_key``):
    ``N`` classes or numbers, or ``(N, L)`` 0/1 labels.

    ``x`` is ``(N, F)`` features, ``(N, C, H, W)`` or ``(N, H, W)`` images, or ``(N, T, F)``
    sequences (``(N, T)`` for one feature per step). ``data.kind: auto`` reads 2-D as features and
    4-D as images; a 3-D array is ambiguous and needs ``kind: image`` or ``kind: sequence``.
    Sequences are stored channels first, ``(F, T)`` per sample.
    """
    import numpy as np

    path = require_path(config)
    try:
        archive = np.load(path, allow_pickle=False)
        arrays = {k: archive[k] for k in (config.x_key, config.y_key) if k in archive.files}
        keys = list(archive.files)
    except (OSError, ValueError, EOFError) as exc:
        reason = first_line(exc)
        raise DataError(
            f"data.path: cannot read {config.path} as a .npz archive: {reason}"
        ) from exc
    for field, key in (("x_key", config.x_key), ("y_key", config.y_key)):
        if key not in arrays:
            raise DataError(
                f"data.{field}: no array {key!r} in {config.path} (arrays: {', '.join(keys)})"
            )
    x, y = arrays[config.x_key], arrays[config.y_key]
    source = str(config.path)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim == 0 or len(x) != len(np.atleast_1d(y)):
        raise DataError(
            f"{source}: x ({config.x_key}) has {len(x) if x.ndim else 0} rows but y "
            f"({config.y_key}) has {len(np.atleast_1d(y))} labels; they must be the same length"
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{source}: x must hold numbers, got dtype {x.dtype}")
    kind = _npz_kind(x, config.kind, source)
    encoding: dict[str, Any] | None = None
    if kind == "sequence" and x.ndim == 3:
        x = x.transpose(0, 2, 1)  # (N, T, F) -> (N, F, T): features become channels
        encoding = {"type": "sequence_tf"}
    if kind == "image" and x.ndim == 4 and x.shape[1] > 4 and x.shape[3] <= 4:
        raise DataError(
            f"{source}: x of shape {x.shape} looks channels-last (N, H, W, C); store it as "
            "(N, C, H, W), e.g. np.transpose(x, (0, 3, 1, 2))"
        )
    return make_splits(
        x,
        y,
        kind=kind,
        config=config,
        seed=seed,
        source=f"{source}: {config.y_key}",
        encoding=encoding,
        target_name=config.y_key if y.ndim == 1 else None,
    )


def _npz_kind(x: np.ndarray, kind: str, source: str) -> str:
    ranks = {"features": (2,), "image": (3, 4), "sequence": (2, 3)}
    if kind == "auto":
        if x.ndim == 2:
            return "features"
        if x.ndim == 4:
            return "image"
        if x.ndim == 3:
            raise DataError(
                f"{source}: x of shape {x.shape} may be images (N, H, W) or sequences (N, T, F); "
                "set data.kind: image or data.kind: sequence"
            )
        raise DataError(
            f"{source}: x of shape {x.shape} is none of (N, F), (N, H, W), (N, C, H, W), (N, T, F)"
        )
    if x.ndim not in ranks[kind]:
        shapes = {
            "features": "(N, F)",
            "image": "(N, H, W) or (N, C, H, W)",
            "sequence": "(N, T) or (N, T, F)",
        }
        raise DataError(f"{source}: {kind} data needs x of shape {shapes[kind]}, got {x.shape}")
    return kind


# --- image folders -------------------------------------------------------------------------------


def read_image(path: str | Path, *, size: int, color: str) -> np.ndarray:
    """One image file as uint8 ``(C, size, size)``: converted to RGB or grayscale, resized
    (bilinear, aspect ratio not kept).

    Raises:
        DataError: the file cannot be decoded, naming it.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if color == "rgb" else "L")
            image = image.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = first_line(exc)
        raise DataError(f"data.path: cannot read image {path}: {reason}") from exc
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def load_images(config: DataConfig, *, seed: int) -> Splits:
    """A folder with one sub-folder of PNG/JPEG images per class (the folder names the class).

    Every image is decoded once, resized to ``data.image_size`` and cached (uint8) under
    ``data.cache_dir``, keyed by the files' names, sizes and modification times and the size
    and colour asked: later trials and runs map the cache instead of decoding again, and every
    worker maps the same pages. The splits keep the pixels as uint8; each batch becomes float
    on its way into the model (:meth:`Splits.model_input`).
    """
    import numpy as np

    root = require_path(config, folder=True)
    class_dirs = sorted(
        d for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))
    )
    if not class_dirs:
        raise DataError(
            f"data.path: {config.path} has no sub-folders; put each class's images in a "
            "sub-folder named after the class"
        )
    if len(class_dirs) < 2:
        raise DataError(
            f"data.path: {config.path} has one class folder ({class_dirs[0].name!r}); "
            "classification needs at least two: one sub-folder of images per class"
        )
    files: list[tuple[int, Path]] = []
    for label, folder in enumerate(class_dirs):
        found = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not found:
            raise DataError(
                f"data.path: class folder {folder.name!r} holds no PNG or JPEG images; add "
                "some or remove the folder"
            )
        files += [(label, p) for p in found]
    listing = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for _, p in files]
    settings = {
        "root": str(root.resolve()),
        "files": listing,
        "size": config.image_size,
        "color": config.color,
    }
    path = cache_root(config) / f"images-{cache_key(settings)}"

    def decode() -> dict[str, np.ndarray]:
        logger.info("decoding %d images from %s", len(files), config.path)
        x = np.stack([read_image(p, size=config.image_size, color=config.color) for _, p in files])
        return {"x": x, "y": np.array([label for label, _ in files], dtype=np.int64)}

    arrays, hit = cached_arrays(path, decode)
    logger.debug("images: %s %s", "read from" if hit else "decoded into", path)
    encoding = {"type": "images", "image_size": config.image_size, "color": config.color}
    return make_splits(
        arrays["x"],
        arrays["y"],
        kind="image",
        config=config,
        seed=seed,
        source=str(config.path),
        class_names=[d.name for d in class_dirs],
        encoding=encoding,
        target_name="class",
    )
