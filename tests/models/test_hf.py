"""Tests for orchestrator/models/hf.py (and its network, _hf_net.py): the pretrained model with
a new head, what trains (unfrozen layers counted from the top, LoRA), what a trial saves and how
it is loaded back, and the checks made before any trial."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from orchestrator.data import DataSpec
from orchestrator.errors import ConfigError, DataError
from orchestrator.models import build_model, check_compatible, parse_model_config, run_params

SPEC = DataSpec(
    kind="tokens", input_shape=(2, 12), num_classes=3, class_names=["a", "b", "c"], vocab_size=50
)


def _model(tiny_bert: Path, *, seed: int = 0, **settings: object) -> torch.nn.Module:
    config = parse_model_config(
        {"family": "hf", "pretrained": str(tiny_bert), "max_length": 12, **settings}
    )
    return build_model(config, SPEC, seed=seed)


def _batch(n: int = 4, *, used: int = 7) -> torch.Tensor:
    """Token ids (CLS, words, SEP, then padding) and their mask, shape (n, 2, 12)."""
    ids = torch.zeros(n, 12, dtype=torch.long)
    ids[:, 0], ids[:, 1 : used - 1], ids[:, used - 1] = 2, torch.arange(5, 5 + used - 2), 3
    mask = (ids != 0).long()
    return torch.stack([ids, mask], dim=1)


def _trained(model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


# --- the config -----------------------------------------------------------------------------------


def test_config_defaults_and_branches() -> None:
    config = parse_model_config({"family": "hf", "pretrained": "some/folder"})
    # the whole network trains, no adapter, the length the model takes (see max_length_of), a
    # saved head of the right size kept
    assert (config.unfreeze_layers, config.adapter.name, config.max_length) == ("all", "none", None)
    assert config.head == "keep"
    lora = parse_model_config({"family": "hf", "pretrained": "x", "adapter": {"name": "lora"}})
    assert (lora.adapter.r, lora.adapter.target_modules) == (8, ["query", "value"])


@pytest.mark.parametrize(
    "settings",
    [{"unfreeze_layers": -1}, {"unfreeze_layers": "some"}, {"adapter": {"name": "prefix"}}],
)
def test_config_refuses(settings: dict) -> None:
    with pytest.raises(ValidationError):
        parse_model_config({"family": "hf", "pretrained": "x", **settings})


# --- what trains ----------------------------------------------------------------------------------


def test_full_fine_tune_trains_everything(tiny_bert: Path) -> None:
    model = _model(tiny_bert)
    assert _trained(model) == {n for n, _ in model.named_parameters()}
    # the new head has one logit per class
    assert model(_batch()).shape == (4, 3)
    assert {n.removeprefix("network.") for n, _ in model.named_parameters()} >= {
        "classifier.weight",
        "classifier.bias",
    }


def test_unfreeze_zero_trains_the_head_only(tiny_bert: Path) -> None:
    model = _model(tiny_bert, unfreeze_layers=0)
    assert _trained(model) == {"network.classifier.weight", "network.classifier.bias"}
    assert {n for n, _ in model.named_parameters() if n in model.head_names} == _trained(model)


def test_unfreeze_counts_layers_from_the_top(tiny_bert: Path) -> None:
    trained = _trained(_model(tiny_bert, unfreeze_layers=1))
    # the top layer (1 of 0, 1), the pooler above it and the head; not layer 0, not embeddings
    assert any(n.startswith("network.bert.encoder.layer.1.") for n in trained)
    assert any(n.startswith("network.bert.pooler.") for n in trained)
    assert not any(".layer.0." in n or ".embeddings." in n for n in trained)


def test_lora_trains_adapters_and_the_head(tiny_bert: Path) -> None:
    model = _model(tiny_bert, adapter={"name": "lora", "r": 4, "alpha": 8})
    trained = _trained(model)
    lora = {n for n in trained if ".lora_" in n}
    # query and value of both layers (A and B each), and the head's trainable copy; nothing else
    assert len(lora) == 2 * 2 * 2
    assert trained - lora == {n for n in trained if ".modules_to_save." in n} != set()
    assert model(_batch()).shape == (4, 3)


def test_lora_goes_only_into_the_unfrozen_layers(tiny_bert: Path) -> None:
    trained = _trained(_model(tiny_bert, unfreeze_layers=1, adapter={"name": "lora"}))
    assert {n.split(".layer.")[1].split(".")[0] for n in trained if ".lora_" in n} == {"1"}


def test_too_many_layers_fail_the_trial(tiny_bert: Path) -> None:
    from orchestrator.errors import TrialFailure

    with pytest.raises(TrialFailure, match=r"unfreeze_layers=3: .* has 2 layers"):
        _model(tiny_bert, unfreeze_layers=3)


def test_forward_ignores_trailing_padding(tiny_bert: Path) -> None:
    # the same texts padded to 12 or cut to their 7 tokens give the same logits
    model = _model(tiny_bert).eval()
    batch = _batch()
    with torch.no_grad():
        full = model(batch)
        assert torch.allclose(full, model.network(input_ids=batch[:, 0, :7]).logits, atol=1e-6)


def test_build_refuses_data_not_tokenised_for_it(tiny_bert: Path) -> None:
    config = parse_model_config({"family": "hf", "pretrained": str(tiny_bert), "max_length": 12})
    words = DataSpec(kind="tokens", input_shape=(12,), num_classes=3, class_names=list("abc"))
    with pytest.raises(DataError, match=r"shape \(2, 12\), got tokens of shape \(12,\)"):
        build_model(config, words)


# --- what a trial saves, and loading it back -----------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{}, {"unfreeze_layers": 0}, {"adapter": {"name": "lora", "r": 2}}],
    ids=["full", "head", "lora"],
)
def test_saved_state_loads_back_on_the_base(tiny_bert: Path, settings: dict) -> None:
    from orchestrator.train import load_saved_state, state_to_save

    model = _model(tiny_bert, seed=1, **settings)
    with torch.no_grad():  # as if trained: every trained tensor moves
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    saved = state_to_save(model)
    # only what trains is saved
    assert set(saved) == _trained(model)
    fresh = _model(tiny_bert, seed=2, **settings)  # another head, other adapters
    load_saved_state(fresh, saved)
    model.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.allclose(model(_batch()), fresh(_batch()), atol=1e-6)


def test_saved_state_of_another_model_is_refused(tiny_bert: Path) -> None:
    from orchestrator.train import load_saved_state, state_to_save

    lora = state_to_save(_model(tiny_bert, adapter={"name": "lora"}))
    with pytest.raises(RuntimeError, match="do not fit this model"):
        load_saved_state(_model(tiny_bert), lora)


def test_pickled_model_is_its_base_and_trained_part(tiny_bert: Path) -> None:
    # how hpo retrain ships it: the pickle holds the trained weights, the base is loaded again
    model = _model(tiny_bert, adapter={"name": "lora", "r": 2}).eval()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    weights = (tiny_bert / "model.safetensors").stat().st_size
    assert buffer.tell() < weights / 5
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert not loaded.training
    with torch.no_grad():
        assert torch.allclose(model(_batch()), loaded(_batch()), atol=1e-6)


def test_run_params_name_the_base_model(tiny_bert: Path) -> None:
    config = parse_model_config({"family": "hf", "pretrained": str(tiny_bert)})
    params = run_params(config)
    assert params["model.pretrained_path"] == str(tiny_bert.resolve())
    assert len(params["model.pretrained_digest"]) == 64
    # a base model that is gone: nothing to record (building the model then says why)
    assert run_params(parse_model_config({"family": "hf", "pretrained": "gone/nowhere"})) == {}


# --- checks before any trial ---------------------------------------------------------------------

WORDS = DataSpec(kind="tokens", input_shape=(12,), num_classes=3, class_names=list("abc"))
_FITS = {"family": "hf", "max_length": 16}  # the tiny BERT takes 64 positions, not the default 128


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"unfreeze_layers": {"type": "int", "low": 0, "high": 4}}, "has 2 layers, got 4"),
        (
            {"max_length": {"type": "categorical", "choices": [16, 128]}},
            "at most 64 tokens, got 128",
        ),
        (
            {
                "adapter": {
                    "type": "categorical",
                    "choices": {"none": {}, "lora": {"target_modules": ["q_proj"]}},
                }
            },
            "no module 'q_proj'; its linear layers are named classifier, dense, key, query, value",
        ),
    ],
    ids=["layers", "max_length", "lora_targets"],
)
def test_check_refuses_settings_the_model_cannot_take(
    tiny_bert: Path, settings: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_compatible("hf", WORDS, model={**_FITS, "pretrained": str(tiny_bert), **settings})


def test_check_names_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("transformers", "peft") else real(name, *a),
    )
    model = {"family": "hf", "pretrained": "x", "adapter": "lora"}
    with pytest.raises(ConfigError) as info:
        check_compatible("hf", WORDS, model=model)
    assert str(info.value) == (
        "model.family: hf needs transformers and peft, not installed here; "
        "install the extra: pip install 'hpo[hf]'"
    )


def test_check_refuses_data_that_is_not_text(tiny_bert: Path) -> None:
    table = DataSpec(kind="features", input_shape=(4,), num_classes=3, class_names=list("abc"))
    with pytest.raises(DataError, match="hf takes tokens data, but the data is features"):
        check_compatible("hf", table, model={"family": "hf", "pretrained": str(tiny_bert)})


def test_config_json_is_what_check_reads(tiny_bert: Path) -> None:
    # the fixture is what the tests above assume: 2 layers, 64 positions
    config = json.loads((tiny_bert / "config.json").read_text())
    assert (config["num_hidden_layers"], config["max_position_embeddings"]) == (2, 64)


# --- a saved head, and the model's own length -----------------------------------------------------


def _saved_classifier(folder: Path, tiny_bert: Path, labels: int) -> Path:
    """The tiny BERT saved as a sequence classifier with a head of ``labels`` classes."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(5)
    model = BertForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=labels)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(folder)
    return folder


def test_a_saved_head_of_the_right_size_is_kept_and_trains(tiny_bert: Path, tmp_path: Path) -> None:
    from transformers import BertForSequenceClassification

    folder = _saved_classifier(tmp_path / "classifier", tiny_bert, labels=3)
    saved = BertForSequenceClassification.from_pretrained(str(folder)).classifier.weight
    model = _model(folder)
    # its head is the saved one, it is what train.head_lr_factor speaks of, and it trains
    head = model.network.classifier.weight
    assert torch.equal(head, saved)
    assert {n.removeprefix("network.") for n in model.head_names} == {
        "classifier.weight",
        "classifier.bias",
    }
    assert head.requires_grad
    # head: new starts it afresh
    fresh = _model(folder, head="new").network.classifier.weight
    assert not torch.equal(fresh, saved)
    # a saved head of another size is replaced by one of the data's
    other = _saved_classifier(tmp_path / "two", tiny_bert, labels=2)
    assert _model(other)(_batch()).shape == (4, 3)


def test_max_length_follows_a_model_that_takes_fewer_tokens(tiny_bert: Path) -> None:
    from orchestrator.models.hf import max_length_of

    # the tiny BERT has 64 positions: without model.max_length, 64 rather than a refusal
    config = parse_model_config({"family": "hf", "pretrained": str(tiny_bert)})
    assert max_length_of(config) == 64
    check_compatible(
        "hf", SPEC, model={"family": "hf", "pretrained": str(tiny_bert)}
    )  # no ConfigError
    given = parse_model_config({"family": "hf", "pretrained": str(tiny_bert), "max_length": 12})
    assert max_length_of(given) == 12
