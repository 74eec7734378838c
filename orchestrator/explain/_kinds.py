"""What is drawn for each kind of data, and which test samples are shown.

- features (tables): permutation importance of every original column beside the mean absolute
  integrated gradients of the same columns;
- images: integrated gradients and Grad-CAM of each class's most confident right and wrong
  prediction side by side, and a gallery of the worst errors;
- sequences: integrated gradients over the time steps, behind the signal;
- tokens: layer integrated gradients on the token embedding, as highlighted text.

Tables average the attributions of ``pool`` (``--samples`` test rows); the other kinds attribute
only the examples they show, chosen among the whole test split (``samples`` then counts them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from orchestrator.explain._importance import REPEATS
from orchestrator.explain._pictures import Example
from orchestrator.explain._result import WORST, Explanation

if TYPE_CHECKING:
    import numpy as np
    import torch

    from orchestrator.data import Splits
    from orchestrator.tasks import Outcomes

__all__ = ["DRAWERS", "outputs_of", "worst_errors"]

PER_GROUP = 1  # right and wrong examples per class in the image pictures
MAX_GROUPS = 10  # classes with examples in the image pictures
SHOWN = 5  # examples of each side (right, wrong) for sequences and texts
MAX_ROWS = 5000  # test rows permutation importance shuffles


def outputs_of(model: torch.nn.Module, x: torch.Tensor, *, device: torch.device) -> torch.Tensor:
    """The network's outputs for ``x`` (float32, on the CPU), in batches, without gradients."""
    from orchestrator.train import model_outputs

    return model_outputs(model, x, device=device)


def _example(outcomes: Outcomes, i: int) -> Example:
    return Example(
        index=int(i),
        actual=outcomes.actual[i],
        predicted=outcomes.predicted[i],
        right=not bool(outcomes.wrong[i]),
        confidence=float(outcomes.confidence[i]),
        badness=float(outcomes.badness[i]),
    )


def worst_errors(outcomes: Outcomes, splits: Splits) -> list[dict[str, Any]]:
    """The test samples most wrong, worst first, with their row in the source data."""
    import numpy as np

    _, order = _ranked(outcomes, np.arange(len(outcomes.wrong)), per_side=WORST)
    rows = splits.indices.get("test")
    out = []
    for i in order:
        entry = asdict(_example(outcomes, i))
        entry["row"] = int(rows[i]) if rows is not None and len(rows) > i else int(i)
        out.append(entry)
    return out


def _ranked(outcomes: Outcomes, pool: np.ndarray, *, per_side: int) -> tuple[list, list]:
    """Among ``pool``: the most confident right predictions (the smallest errors, best first)
    and the most confident wrong ones (the largest, worst first), ``per_side`` of each at most."""
    import numpy as np

    right = pool[~outcomes.wrong[pool]]
    wrong = pool[outcomes.wrong[pool]]
    best = right[np.argsort(outcomes.badness[right], kind="stable")][:per_side]
    worst = wrong[np.argsort(-outcomes.badness[wrong], kind="stable")][:per_side]
    return [int(i) for i in best], [int(i) for i in worst]


def _sides(outcomes: Outcomes, pool: np.ndarray, *, per_side: int) -> list[int]:
    """:func:`_ranked`'s right predictions, then its wrong ones."""
    best, worst = _ranked(outcomes, pool, per_side=per_side)
    return best + worst


def _per_class(outcomes: Outcomes, pool: np.ndarray) -> list[tuple[int | None, int | None]]:
    """Pairs side by side: for each true class in ``pool`` (up to :data:`MAX_GROUPS`), its most
    confident right and its most confident wrong prediction (None where it has none); for
    values, the smallest errors beside the largest."""
    import numpy as np

    actual = np.asarray(outcomes.actual, dtype=object)[pool]
    groups = sorted(dict.fromkeys(actual), key=str)
    if len(groups) > MAX_GROUPS * 2:  # values, not classes
        groups, members = [None], [pool]
    else:
        members = [pool[actual == g] for g in groups[:MAX_GROUPS]]
    per = PER_GROUP if groups != [None] else SHOWN
    pairs: list[tuple[int | None, int | None]] = []
    for rows in members:
        best, worst = _ranked(outcomes, rows, per_side=per)
        for k in range(max(len(best), len(worst))):
            pairs.append((best[k] if k < len(best) else None, worst[k] if k < len(worst) else None))
    return pairs


def _features(
    result: Explanation,
    model: torch.nn.Module,
    splits: Splits,
    outcomes: Outcomes,
    pool: np.ndarray,
    *,
    device: torch.device,
    say: Callable[[str], None],
    maximize: bool,
    decision: dict[str, float] | None,
) -> None:
    import numpy as np
    import torch

    from orchestrator.explain._attribute import integrated_gradients
    from orchestrator.explain._importance import column_groups, permutation_importance
    from orchestrator.explain._pictures import importance_figure

    x, y = splits.test
    groups = column_groups(splits.preprocessing, int(x.shape[1]))
    rows = slice(0, MAX_ROWS)
    say(f"permutation importance: {len(groups)} columns x {REPEATS} repeats on {len(y[rows])} rows")
    importance = permutation_importance(
        lambda inputs: outputs_of(model, inputs, device=device),
        x[rows],
        y[rows],
        spec=splits.spec,
        groups=groups,
        metric=result.metric,
        maximize=maximize,
        decision=decision,
    )
    say(f"integrated gradients of {len(pool)} samples")
    target = torch.from_numpy(outcomes.target[pool])
    grads = np.abs(integrated_gradients(model, x[pool], target, device=device))
    for entry, (_, features) in zip(importance, groups, strict=True):
        entry.attribution = float(grads[:, features].sum(axis=1).mean())
    result.importance = sorted(importance, key=lambda c: c.mean, reverse=True)
    result.pictures["importance"] = importance_figure(
        result.importance, metric=result.metric, repeats=REPEATS
    )


def _images(
    result: Explanation,
    model: torch.nn.Module,
    splits: Splits,
    outcomes: Outcomes,
    pool: np.ndarray,
    *,
    device: torch.device,
    say: Callable[[str], None],
    **_: Any,
) -> None:
    import numpy as np
    import torch

    from orchestrator.explain._attribute import grad_cam, integrated_gradients, last_conv2d
    from orchestrator.explain._pictures import Panel, error_gallery, image_figure

    x = splits.test[0]
    pairs = _per_class(outcomes, np.arange(len(x)))  # among the whole test split
    chosen = np.asarray(sorted({i for pair in pairs for i in pair if i is not None}), np.int64)
    result.samples = len(chosen)
    target = torch.from_numpy(outcomes.target[chosen])
    say(f"integrated gradients of {len(chosen)} images")
    grads = integrated_gradients(model, x[chosen], target, device=device)
    layer = last_conv2d(model)
    cams = None
    if layer is None:
        result.skipped["grad_cam"] = f"the {result.family} network has no Conv2d layer"
    else:
        say(f"Grad-CAM of {len(chosen)} images")
        cams = grad_cam(model, x[chosen], target, layer=layer, device=device)
    at = {int(i): k for k, i in enumerate(chosen)}
    images = x[chosen].float().numpy()

    def panel(i: int | None) -> Panel | None:
        if i is None:
            return None
        k = at[i]
        return Panel(_example(outcomes, i), images[k], grads[k], None if cams is None else cams[k])

    result.pictures["images"] = image_figure([(panel(a), panel(b)) for a, b in pairs])
    worst = [e["index"] for e in result.errors]
    if worst:
        gallery = [_example(outcomes, i) for i in worst]
        result.pictures["errors"] = error_gallery(gallery, x[worst].float().numpy())


def _sequences(
    result: Explanation,
    model: torch.nn.Module,
    splits: Splits,
    outcomes: Outcomes,
    pool: np.ndarray,
    *,
    device: torch.device,
    say: Callable[[str], None],
    **_: Any,
) -> None:
    import numpy as np
    import torch

    from orchestrator.explain._attribute import integrated_gradients
    from orchestrator.explain._pictures import sequence_figure

    x = splits.test[0]
    chosen = np.asarray(_sides(outcomes, np.arange(len(x)), per_side=SHOWN // 2 + 1), np.int64)
    result.samples = len(chosen)
    say(f"integrated gradients of {len(chosen)} sequences")
    target = torch.from_numpy(outcomes.target[chosen])
    grads = integrated_gradients(model, x[chosen], target, device=device)
    examples = [_example(outcomes, i) for i in chosen]
    result.pictures["sequences"] = sequence_figure(examples, x[chosen].float().numpy(), grads)


def _tokens(
    result: Explanation,
    model: torch.nn.Module,
    splits: Splits,
    outcomes: Outcomes,
    pool: np.ndarray,
    *,
    device: torch.device,
    say: Callable[[str], None],
    **_: Any,
) -> None:
    import numpy as np
    import torch

    from orchestrator.explain._attribute import token_attributions, token_embedding
    from orchestrator.explain._pictures import text_figure
    from orchestrator.explain._tokens import Vocabulary

    x = splits.test[0]
    layer = token_embedding(model, splits.spec)
    if layer is None:
        result.skipped["tokens"] = f"the {result.family} network has no token embedding"
        return
    vocabulary = Vocabulary.of(splits.preprocessing)
    chosen = np.asarray(_sides(outcomes, np.arange(len(x)), per_side=SHOWN), dtype=np.int64)
    result.samples = len(chosen)
    say(f"layer integrated gradients of {len(chosen)} texts")
    values = token_attributions(
        model,
        x[chosen],
        torch.from_numpy(outcomes.target[chosen]),
        layer=layer,
        device=device,
        baseline=vocabulary.baseline(x[chosen]),
    )
    examples = [_example(outcomes, i) for i in chosen]
    texts = [vocabulary.pairs(x[i], v) for i, v in zip(chosen, values, strict=True)]
    result.texts = [
        {**asdict(e), "tokens": [[t, float(v)] for t, v in pairs]}
        for e, pairs in zip(examples, texts, strict=True)
    ]
    result.pictures["text"] = text_figure(examples, texts)


DRAWERS: dict[str, Callable[..., None]] = {
    "features": _features,
    "image": _images,
    "sequence": _sequences,
    "tokens": _tokens,
}
