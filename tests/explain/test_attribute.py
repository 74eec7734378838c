"""orchestrator/explain/_attribute.py: attributions of every family's networks have the input's
shape, add up to the output's change, and point at what decides the output."""

from __future__ import annotations

import pytest
import torch

from orchestrator.data import DataSpec
from orchestrator.explain._attribute import (
    grad_cam,
    integrated_gradients,
    last_conv2d,
    token_attributions,
    token_embedding,
)
from orchestrator.models import build_model, parse_model_config

CPU = torch.device("cpu")
NAMES = ["a", "b", "c"]

FLOAT_INPUTS = [
    ("mlp", DataSpec("features", (5,), 3, NAMES)),
    ("mlp", DataSpec("image", (1, 8, 8), 3, NAMES)),
    ("cnn", DataSpec("image", (3, 8, 8), 3, NAMES)),
    ("cnn", DataSpec("sequence", (2, 20), 3, NAMES)),
    ("rnn", DataSpec("sequence", (2, 20), 3, NAMES)),
    ("transformer", DataSpec("sequence", (2, 20), 3, NAMES)),
    ("transformer", DataSpec("image", (1, 8, 8), 3, NAMES)),
    ("mlp", DataSpec("features", (5,), 1, ["y"], task="regression")),
]
TOKEN_INPUTS = ["cnn", "rnn", "transformer"]


def _network(family: str, spec: DataSpec) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(parse_model_config({"family": family}), spec).eval()


@pytest.mark.parametrize(("family", "spec"), FLOAT_INPUTS, ids=lambda v: getattr(v, "kind", v))
def test_integrated_gradients_have_the_input_shape_and_add_up(family: str, spec: DataSpec) -> None:
    model = _network(family, spec)
    x = torch.randn(6, *spec.input_shape, generator=torch.Generator().manual_seed(1))
    target = torch.zeros(6, dtype=torch.int64)
    values = integrated_gradients(model, x, target, device=CPU, steps=64)
    assert values.shape == tuple(x.shape)
    # completeness: per sample, the attributions sum to f(x) - f(baseline) of the output explained
    with torch.no_grad():
        change = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
    assert values.reshape(6, -1).sum(axis=1) == pytest.approx(change.numpy(), abs=0.05)
    assert not model.training  # left in evaluation mode


def test_grad_cam_covers_the_image_and_is_never_negative() -> None:
    spec = DataSpec("image", (1, 8, 8), 3, NAMES)
    model = _network("cnn", spec)
    layer = last_conv2d(model)
    assert isinstance(layer, torch.nn.Conv2d)
    maps = grad_cam(
        model, torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]), layer=layer, device=CPU
    )
    assert maps.shape == (4, 8, 8) and (maps >= 0).all()
    assert last_conv2d(_network("mlp", spec)) is None  # no convolution: no Grad-CAM


@pytest.mark.parametrize("family", TOKEN_INPUTS)
def test_token_attributions_give_one_value_per_token(family: str) -> None:
    spec = DataSpec("tokens", (12,), 3, NAMES, vocab_size=30)
    model = _network(family, spec)
    layer = token_embedding(model, spec)
    assert isinstance(layer, torch.nn.Embedding) and layer.num_embeddings == 30
    x = torch.randint(2, 30, (3, 12), generator=torch.Generator().manual_seed(2))
    x[:, 9:] = 0  # padding at the end
    values = token_attributions(
        model, x, torch.tensor([0, 1, 2]), layer=layer, device=CPU, baseline=torch.zeros_like(x)
    )
    assert [v.shape for v in values] == [(12,)] * 3


def test_the_deciding_token_gets_the_largest_attribution() -> None:
    # a bag of embeddings whose class 1 logit is the count of token 7
    class Bag(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(10, 4)
            with torch.no_grad():
                self.embedding.weight.zero_()
                self.embedding.weight[7, 0] = 2.0
                self.embedding.weight[3, 1] = 0.1

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            summed = self.embedding(ids).sum(dim=1)
            return torch.stack([summed[:, 1], summed[:, 0]], dim=1)

    model = Bag()
    x = torch.tensor([[3, 7, 3, 5, 0, 0]])
    (values,) = token_attributions(
        model, x, torch.tensor([1]), layer=model.embedding, device=CPU, baseline=torch.zeros_like(x)
    )
    assert int(values.argmax()) == 1 and values[1] == pytest.approx(2.0, abs=1e-3)
