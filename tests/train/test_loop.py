"""Tests for orchestrator/train/_loop.py: the loop, callbacks, early stopping, failures."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from orchestrator.config import (
    DataConfig,
    EarlyStoppingConfig,
    ScheduleConfig,
    SGDConfig,
)
from orchestrator.data import Splits
from orchestrator.errors import TrialFailure
from orchestrator.models import build_model, family_config
from orchestrator.train import (
    data_fits,
    epoch_metrics,
    evaluate,
    fit,
    lr_at,
    seed_everything,
)
from tests.train.helpers import quick, run, tiny_mlp

# --- the loop -------------------------------------------------------------------------------------


def test_training_lowers_the_loss(digits: Splits) -> None:
    model = tiny_mlp(digits)
    before = evaluate(model, *digits.val, device="cpu", num_classes=10)
    result = run(model, digits, quick())
    # ~2.3 (chance) before; well below after two epochs, and accuracy far above 10%
    assert result.history[-1]["val_loss"] < before["loss"] / 2
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_metrics["val_accuracy"] > 0.85
    assert (result.epochs_run, result.stopped_early, result.n_parameters) == (2, False, 2410)


def test_cnn_trains(digits: Splits) -> None:
    # the digits CNN learns in one epoch too
    seed_everything(0)
    model = build_model(family_config("cnn")(blocks={"channels": 8}), digits.spec)
    result = run(model, digits, quick(epochs=1))
    assert result.best_metrics["val_accuracy"] > 0.7


def test_deterministic_under_a_seed(digits: Splits) -> None:
    # same seed, same model init: identical metrics (but time) and identical best weights
    first = run(tiny_mlp(digits), digits, quick(optimizer=SGDConfig(), label_smoothing=0.1))
    second = run(tiny_mlp(digits), digits, quick(optimizer=SGDConfig(), label_smoothing=0.1))
    strip = [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in first.history]
    assert strip == [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in second.history]
    assert all(torch.equal(first.best_state[k], second.best_state[k]) for k in first.best_state)


def test_best_state_is_the_best_epoch(digits: Splits) -> None:
    # best_state is a cpu copy: loaded back, it scores exactly the best epoch's val metrics
    model = tiny_mlp(digits)
    result = run(model, digits, quick(epochs=3), metric="val_loss", direction="minimize")
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert all(t.device.type == "cpu" for t in result.best_state.values())
    model.load_state_dict(result.best_state)
    again = evaluate(model, *digits.val, device="cpu", num_classes=10)
    assert again["loss"] == pytest.approx(result.best_metrics["val_loss"], rel=1e-5)


def test_schedule_and_clip_and_bf16_run(digits: Splits) -> None:
    # every piece of the update step together: warmup + cosine, clipping, bf16 autocast on cpu
    config = quick(
        schedule=ScheduleConfig(name="cosine", warmup_epochs=1),
        grad_clip=1.0,
        precision="bf16-mixed",
    )
    result = fit(tiny_mlp(digits), digits, config, device="cpu", precision="bf16-mixed", seed=0)
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    # the logged lr follows lr_at at each epoch's last step
    n_batches = math.ceil(1257 / 64)
    expected = lr_at(2 - 1 / n_batches, base_lr=1e-2, schedule=config.schedule, epochs=2)
    assert result.history[-1]["lr"] == pytest.approx(expected)


def test_data_that_does_not_fit_stays_in_host_memory(
    digits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same training when batches are copied from host memory instead of living on the device
    import orchestrator.train._step as train_module

    resident = run(tiny_mlp(digits), digits, quick())
    monkeypatch.setattr(train_module, "data_fits", lambda nbytes, device: False)
    streamed = run(tiny_mlp(digits), digits, quick())
    strip = [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in resident.history]
    assert strip == [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in streamed.history]


def test_data_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    # always on the cpu; on a GPU, up to half of its free memory
    assert data_fits(10**15, torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 4000))
    assert data_fits(500, torch.device("cuda"))
    assert not data_fits(501, torch.device("cuda"))


def test_token_data_trains() -> None:
    # int64 token ids through an embedding model, with mixup in its embedding
    from orchestrator.config import AugmentConfig
    from orchestrator.data import make_splits

    rng = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 2
    ids = torch.randint(3, 20, (120, 8), generator=rng)
    ids[:, 5] = y + 1  # the last real token gives the class away
    ids[:, 6:] = 0  # padding
    splits = make_splits(
        ids.numpy(),
        y.numpy(),
        kind="tokens",
        config=DataConfig(),
        seed=0,
        source="t",
        vocab_size=20,
    )
    assert splits.train[0].dtype == torch.int64
    seed_everything(0)
    model = build_model(family_config("rnn")(hidden_size=16), splits.spec)
    config = quick(epochs=6, batch_size=16, augment=AugmentConfig(mixup=0.2))
    result = run(model, splits, config)
    assert result.best_metrics["val_accuracy"] > 0.9


# --- callbacks and early stopping -----------------------------------------------------------------


def test_callback_gets_every_metric_each_epoch(digits: Splits) -> None:
    seen: list[tuple[int, dict]] = []
    run(tiny_mlp(digits), digits, quick(), callbacks=[lambda e, m: seen.append((e, m))])
    # called once per epoch, 1-based, with exactly the documented keys, all finite floats
    assert [epoch for epoch, _ in seen] == [1, 2]
    for _, metrics in seen:
        assert list(metrics) == list(epoch_metrics(digits.spec))
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def test_callback_exception_propagates(digits: Splits) -> None:
    class Pruned(Exception):
        pass

    calls: list[int] = []

    def prune(epoch: int, metrics: dict[str, float]) -> None:
        calls.append(epoch)
        raise Pruned

    # the exception stops training at once and comes out unchanged (not a TrialFailure)
    with pytest.raises(Pruned):
        run(tiny_mlp(digits), digits, quick(epochs=5), callbacks=[prune])
    assert calls == [1]


def test_early_stopping_stops(digits: Splits) -> None:
    # accuracy can never improve by 10: with patience 1 the run stops after epoch 2 of 10
    config = quick(epochs=10, early_stopping=EarlyStoppingConfig(patience=1, min_delta=10.0))
    result = run(tiny_mlp(digits), digits, config)
    assert (result.epochs_run, result.stopped_early) == (2, True)
    # the best epoch is still tracked without min_delta
    accuracy = [h["val_accuracy"] for h in result.history]
    assert result.best_epoch == 1 + accuracy.index(max(accuracy))
    # without early stopping all epochs run
    assert run(tiny_mlp(digits), digits, quick(epochs=3)).epochs_run == 3


def test_unknown_metric(digits: Splits) -> None:
    # selection by a metric the loop does not produce is a programming error
    with pytest.raises(ValueError, match="metric: unknown 'accuracy'"):
        run(tiny_mlp(digits), digits, quick(), metric="accuracy")


# --- failures -------------------------------------------------------------------------------------


class NanAfter(nn.Module):
    """Wraps a model; its training-mode outputs turn NaN from the ``bad``-th call on."""

    def __init__(self, inner: nn.Module, bad: int) -> None:
        super().__init__()
        self.inner, self.bad, self.calls = inner, bad, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.bad:
                return out * float("nan")
        return out


def test_nan_loss_fails_the_trial(digits: Splits) -> None:
    # the message names the epoch and batch where the loss first went non-finite, and the fix
    with pytest.raises(TrialFailure) as info:
        run(NanAfter(tiny_mlp(digits), bad=3), digits, quick())
    assert info.value.kind == "nan"
    assert str(info.value) == (
        "loss became nan at epoch 1, batch 3; lower train.optimizer.lr or set train.grad_clip"
    )


def test_huge_learning_rate_fails_the_trial(digits: Splits) -> None:
    # a diverging optimizer ends as kind "nan", never as a crash
    config = quick(optimizer=SGDConfig(lr=1e12, momentum=0.9))
    with pytest.raises(TrialFailure) as info:
        run(tiny_mlp(digits), digits, config)
    assert info.value.kind == "nan"


def test_shape_error_fails_the_trial(digits: Splits) -> None:
    # a model that cannot take the data fails before training, with torch's first line
    with pytest.raises(TrialFailure) as info:
        run(nn.Linear(10, 10), digits, quick())
    assert info.value.kind == "error"
    assert str(info.value).startswith("model failed on input of shape (2, 1, 8, 8): ")
    assert "\n" not in str(info.value)
    # a model with the wrong number of outputs too
    with pytest.raises(TrialFailure, match=r"model output has shape \(2, 3\)"):
        run(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), digits, quick())


def test_out_of_memory_fails_the_trial(digits: Splits) -> None:
    class Oom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = tiny_mlp(digits)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(x)

    # the message carries the batch size to lower
    with pytest.raises(TrialFailure, match=r"out of memory on cpu at train.batch_size=64") as info:
        run(Oom(), digits, quick())
    assert info.value.kind == "oom"


def test_import_is_cheap() -> None:
    # the loop imports no search, tracking or CLI code, and torch only when it runs
    code = (
        "import sys, orchestrator.train\n"
        "for mod in ('torch', 'optuna', 'mlflow', 'click', 'sklearn'):\n"
        "    assert mod not in sys.modules, mod"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
