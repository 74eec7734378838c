"""Shipped models: logged with ``mlflow.pytorch``, found again from what a person types, loaded.

:func:`log_pytorch_model` logs a model on a run in the pt2 format with pinned requirements (and
registers it); :func:`describe_model_version` describes the registered version;
:func:`resolve_model_uri` turns a registry name, a run id or a folder into an MLflow URI,
:func:`download_model` fetches it and :func:`load_pytorch_model` loads it for ``hpo predict``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, first_line
from orchestrator.redact import redact_text
from orchestrator.tracking._client import (
    default_tracking_uri,
    param_value,
    quiet_artifact_downloads,
)

if TYPE_CHECKING:
    from orchestrator.tracking._runs import Tracker

__all__ = [
    "MODEL_ARTIFACT",
    "LoggedModel",
    "describe_model_version",
    "download_model",
    "load_pytorch_model",
    "log_pytorch_model",
    "pinned_requirements",
    "resolve_model_uri",
]

logger = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"  # the logged model's name (runs:/<run id>/model)


@dataclass(frozen=True)
class LoggedModel:
    """A model logged with ``mlflow.pytorch.log_model``, and its registry version if registered."""

    model_uri: str  # models:/NAME/VERSION when registered, else MLflow's models:/m-... URI
    run_id: str
    name: str | None
    version: str | None
    seconds: float  # how long log_model took


def pinned_requirements(extra: Sequence[str] = ()) -> list[str]:
    """The exact packages a logged model needs to load: torch, mlflow and numpy as installed,
    and ``extra`` (e.g. transformers for a fine-tuned pretrained model)."""
    import importlib.metadata

    return [
        f"{package}=={importlib.metadata.version(package)}"
        for package in ("torch", "mlflow", "numpy", *extra)
    ]


def log_pytorch_model(
    tracker: Tracker,
    run_id: str,
    model: Any,
    *,
    input_example: Any,
    extra_files: Sequence[str | Path] = (),
    registered_model_name: str | None = None,
    serialization_format: str = "pt2",
    requirements: Sequence[str] = (),
) -> LoggedModel:
    """Log ``model`` with ``mlflow.pytorch.log_model`` on a run, optionally registering it.

    The model is saved in the pt2 format (``torch.export``: no pickle to trust on loading),
    traced on ``input_example`` (a few samples; the batch dimension stays dynamic), with
    pinned pip requirements so that MLflow does not spend seconds inferring them.
    ``extra_files`` (e.g. ``preprocessing.json``) are stored inside the model's folder.
    The model must be in eval mode: the graph is traced as it is.

    Args:
        tracker: the study's tracker; the run and the registry are in its tracking store.
        run_id: the run the model is logged on.
        model: a ``torch.nn.Module`` in eval mode.
        input_example: a NumPy array of a few samples.
        extra_files: local files to store in the model's folder.
        registered_model_name: register the model under this name; None logs it only.
        serialization_format: ``pt2``, or ``pickle`` for a model that pickles itself (a
            fine-tuned pretrained model pickles as its base model's reference and its trained
            weights).
        requirements: packages pinned beside torch, mlflow and numpy.
    """
    import mlflow.pytorch

    tracker.close()  # the run's queued writes first: log_model writes through MLflow's own API

    started = time.perf_counter()
    said = io.StringIO()  # MLflow prints "Created version ..." itself: logged here instead
    with _fluent_tracking_uri(tracker.tracking_uri), contextlib.redirect_stderr(said):
        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            input_example=input_example,
            pip_requirements=pinned_requirements(requirements),
            extra_files=[str(f) for f in extra_files] or None,
            serialization_format=serialization_format,
            registered_model_name=registered_model_name,
            run_id=run_id,
        )
    for line in said.getvalue().splitlines():
        logger.info("mlflow: %s", line)
    version = info.registered_model_version
    return LoggedModel(
        model_uri=(
            f"models:/{registered_model_name}/{version}"
            if registered_model_name and version is not None
            else info.model_uri
        ),
        run_id=run_id,
        name=registered_model_name,
        version=None if version is None else str(version),
        seconds=time.perf_counter() - started,
    )


def describe_model_version(
    tracker: Tracker,
    name: str,
    version: str,
    *,
    description: str,
    tags: Mapping[str, Any] = (),
) -> None:
    """Set the description and tags of a registered model version (secrets redacted)."""
    tracker.client.update_model_version(name, version, description=redact_text(description))
    for key, value in dict(tags).items():
        tracker.client.set_model_version_tag(name, version, key, param_value(value))


@contextlib.contextmanager
def _fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at ``uri`` meanwhile: ``mlflow.pytorch`` uses it.

    The one use of an MLflow private in hpo: ``mlflow.pytorch.log_model`` and model downloads
    read the global tracking URI, and no public API sets it for a while only. MLflow's own
    ``_use_tracking_uri`` restores the global as it was, unset included; where it is missing,
    ``set_tracking_uri`` and back (which leaves the previous URI in ``MLFLOW_TRACKING_URI``).
    """
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
    uri = resolve_model_uri(ref)
    if Path(uri).is_dir():  # a model folder: read as it is, without importing MLflow (~1 s)
        return Path(uri)
    import mlflow.artifacts

    quiet_artifact_downloads()
    store = tracking_uri or default_tracking_uri()
    try:
        if uri.startswith("runs:/"):  # MLflow 3 keeps logged models apart from run artifacts
            uri = _logged_model_uri(uri, store) or uri
        with _fluent_tracking_uri(store):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(dst), tracking_uri=store
            )
    except Exception as exc:  # MlflowException (not found) or an OSError from the artifact store
        raise ConfigError(
            f"--model {ref}: cannot load it from MLflow at {redact_text(store)} "
            f"({first_line(exc)}); "
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
