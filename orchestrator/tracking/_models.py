"""Shipped models: logged with ``mlflow.pytorch``, found again from what a person types, loaded.

A model is logged in the pt2 format with pinned requirements (:func:`pinned_requirements`);
:func:`resolve_model_uri` turns a registry name, a run id or a folder into an MLflow URI,
:func:`download_model` fetches it and :func:`load_pytorch_model` loads it for ``hpo predict``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.redact import redact_text
from orchestrator.tracking._client import default_tracking_uri

__all__ = [
    "MODEL_ARTIFACT",
    "LoggedModel",
    "download_model",
    "fluent_tracking_uri",
    "load_pytorch_model",
    "pinned_requirements",
    "resolve_model_uri",
]

MODEL_ARTIFACT = "model"  # the logged model's name (runs:/<run id>/model)


@dataclass(frozen=True)
class LoggedModel:
    """A model logged with ``mlflow.pytorch.log_model``, and its registry version if registered."""

    model_uri: str  # models:/NAME/VERSION when registered, else MLflow's models:/m-... URI
    run_id: str
    name: str | None
    version: str | None
    seconds: float  # how long log_model took


def pinned_requirements() -> list[str]:
    """The exact packages a logged model needs to load: torch, mlflow and numpy as installed."""
    import importlib.metadata

    return [
        f"{package}=={importlib.metadata.version(package)}"
        for package in ("torch", "mlflow", "numpy")
    ]


@contextlib.contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at ``uri`` meanwhile: ``mlflow.pytorch`` uses it."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    use = getattr(utils, "_use_tracking_uri", None)
    if use is not None:
        with use(uri):
            yield
        return
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


_RUN_ID = re.compile(r"[0-9a-f]{32}")


def resolve_model_uri(ref: str) -> str:
    """An MLflow model URI from what a person types.

    ``models:/NAME/VERSION``, ``models:/NAME@alias``, ``models:/NAME/latest`` and ``runs:/...``
    are used as they are; a bare run id means the model logged on that run (``runs:/ID/model``);
    a local folder holding an ``MLmodel`` file is used as it is.
    """
    ref = ref.strip()
    if ref.startswith(("models:/", "runs:/")):
        return ref
    if _RUN_ID.fullmatch(ref):
        return f"runs:/{ref}/{MODEL_ARTIFACT}"
    if (Path(ref) / "MLmodel").is_file():
        return str(Path(ref).resolve())
    raise ConfigError(
        f"--model {ref}: not a model reference; give models:/NAME/VERSION (see hpo retrain), "
        "models:/NAME/latest, a run id, runs:/RUN_ID/model or a local model folder"
    )


def download_model(ref: str, dst: str | Path, *, tracking_uri: str | None = None) -> Path:
    """Download the model ``ref`` (see :func:`resolve_model_uri`) into ``dst``; its local folder.

    Raises:
        ConfigError: no such model, version or run in this tracking store.
    """
    import mlflow.artifacts

    uri = resolve_model_uri(ref)
    if Path(uri).is_dir():
        return Path(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    store = tracking_uri or default_tracking_uri()
    try:
        if uri.startswith("runs:/"):  # MLflow 3 keeps logged models apart from run artifacts
            uri = _logged_model_uri(uri, store) or uri
        with fluent_tracking_uri(store):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(dst), tracking_uri=store
            )
    except Exception as exc:  # MlflowException (not found) or an OSError from the artifact store
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"--model {ref}: cannot load it from MLflow at {redact_text(store)} ({first}); "
            "check the name and version (hpo retrain prints them) and --tracking-uri"
        ) from exc
    path = Path(local)
    if not (path / "MLmodel").is_file():
        raise ConfigError(
            f"--model {ref}: {uri} is not a logged model (no MLmodel file); a trial run holds "
            "only weights: ship a model with hpo retrain"
        )
    return path


def _logged_model_uri(uri: str, tracking_uri: str) -> str | None:
    """``models:/<model id>`` of the model logged on a run under a name (``runs:/ID/NAME``)."""
    from mlflow import MlflowClient

    run_id, _, name = uri.removeprefix("runs:/").partition("/")
    client = MlflowClient(tracking_uri=tracking_uri)
    outputs = client.get_run(run_id).outputs
    for output in getattr(outputs, "model_outputs", None) or []:
        if client.get_logged_model(output.model_id).name == (name or MODEL_ARTIFACT):
            return f"models:/{output.model_id}"
    return None


def load_pytorch_model(path: str | Path) -> Any:
    """The PyTorch module of a model folder downloaded by :func:`download_model`, in eval mode."""
    import mlflow.pytorch

    model = mlflow.pytorch.load_model(str(path))
    if hasattr(model, "eval"):
        with contextlib.suppress(Exception):  # an exported graph module may refuse eval()
            model.eval()
    return model
