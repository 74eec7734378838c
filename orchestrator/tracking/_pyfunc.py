"""hpo's shipped models as MLflow models: a pyfunc model around a :mod:`orchestrator.shipped`
bundle, so that ``mlflow.pyfunc.load_model``, ``mlflow models serve`` and the Models tab take
them, and they predict from raw input (a table's columns, text, raw values) in the task's terms.

The MLflow model holds the bundle (an artifact), hpo's own code (its code folder: loading needs
no hpo installed), pinned requirements, a signature (the raw input; the prediction columns) and
an input example. Imported only when a model is logged or loaded: it imports ``mlflow.pyfunc``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc

from orchestrator.tracking._models import (
    MODEL_ARTIFACT,
    LoggedModel,
    _fluent_tracking_uri,
    pinned_requirements,
)

if TYPE_CHECKING:
    from orchestrator.tracking._runs import Tracker

__all__ = ["HpoModel", "log_hpo_model"]

logger = logging.getLogger(__name__)

BUNDLE_ARTIFACT = "bundle"
# what the bundle's code imports beside torch, mlflow and numpy
REQUIRED = ("pandas", "pydantic")


class HpoModel(mlflow.pyfunc.PythonModel):
    """An hpo bundle behind MLflow's pyfunc interface: raw samples in, a table of predictions
    out (the class or value in a column named after the target, and every probability)."""

    # MLflow would validate input by predict's type hints (and warn that there are none): the
    # bundle's preprocessing checks the input itself, and the signature is given when logging
    _skip_type_hint_validation = True

    def load_context(self, context):  # type: ignore[no-untyped-def]
        import importlib

        bundle = importlib.import_module("orchestrator.shipped").Bundle
        self.bundle = bundle.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        proba = bool((params or {}).get("proba", True))
        return self.bundle.table(model_input, proba=proba)


def log_hpo_model(
    tracker: Tracker,
    run_id: str,
    bundle: Any,
    *,
    input_example: Any,
    registered_model_name: str | None = None,
    requirements: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
) -> LoggedModel:
    """Log ``bundle`` (an :class:`orchestrator.shipped.Bundle`) as an MLflow model on a run,
    optionally registering it.

    Args:
        input_example: a few raw samples (:func:`orchestrator.data.raw_examples`); the signature
            is inferred from them and the bundle's predictions of them.
        requirements: packages pinned beside torch, mlflow, numpy, pandas and pydantic.
        metadata: kept in the MLmodel file (the task, the study, the members).
    """
    from mlflow.models import Model, infer_signature

    import orchestrator

    tracker.close()  # the run's queued writes first: log_model writes through MLflow's own API
    started = time.perf_counter()
    said = io.StringIO()  # MLflow prints "Created version ..." itself: logged here instead
    with tempfile.TemporaryDirectory() as tmp:
        folder = bundle.save(Path(tmp) / BUNDLE_ARTIFACT)
        code = Path(tmp) / "code" / "orchestrator"
        shutil.copytree(
            Path(orchestrator.__file__).parent, code, ignore=shutil.ignore_patterns("__pycache__")
        )
        output = bundle.table(input_example)
        signature = infer_signature(input_example, output, params={"proba": True})
        model_id = _logged_model_of(tracker, run_id)
        with (
            _fluent_tracking_uri(tracker.tracking_uri),
            contextlib.redirect_stderr(said),
            warnings.catch_warnings(),
        ):
            # MLflow's advice on type hints of predict: the signature is given here
            warnings.simplefilter("ignore", UserWarning)
            # Model.log is what mlflow.pyfunc.log_model calls, with the run to log on
            info = Model.log(
                artifact_path=None,
                name=MODEL_ARTIFACT,
                flavor=mlflow.pyfunc,
                python_model=HpoModel(),
                artifacts={BUNDLE_ARTIFACT: str(folder)},
                code_paths=[str(code)],
                pip_requirements=pinned_requirements((*REQUIRED, *requirements)),
                signature=signature,
                input_example=input_example,
                metadata=metadata,
                registered_model_name=registered_model_name,
                run_id=run_id,
                model_id=model_id,
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


def _logged_model_of(tracker: Tracker, run_id: str) -> str:
    """A new logged model of run ``run_id``, in the run's experiment (the Models tab of the
    study): MLflow's own ``Model.log`` would put it in the fluent API's current experiment, the
    Default one in a process that never set one. Its params: the run's, as MLflow's own."""
    run = tracker.client.get_run(run_id)
    created = tracker.client.create_logged_model(
        experiment_id=run.info.experiment_id,
        name=MODEL_ARTIFACT,
        source_run_id=run_id,
        params={k: str(v) for k, v in run.data.params.items()},
    )
    return str(created.model_id)
