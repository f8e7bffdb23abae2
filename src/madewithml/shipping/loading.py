"""The one way this project loads a logged model from a URI: `kedro predict`, `kedro serve`,
batch inference, evaluation and the notebooks all call `load_model`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from madewithml.core.tagger import SETTINGS_FILE, check_saved_files
from madewithml.shipping.registry import pinned_model_uri


class ModelNotLoadedError(RuntimeError):
    """A model URI that MLflow could not load; the message names the URI and the store."""


def load_model(model_uri: str) -> Any:
    """`mlflow.pyfunc.load_model` of `model_uri` pinned to the version it means now (an alias or
    ``latest`` becomes ``models:/<name>/<version>``), with `metadata.model_uri` set to that
    pinned URI (which model this is, for reports and the service).

    Raises:
        ModelNotLoadedError: naming the URI, the tracking store and, for an alias, how aliases
            are set.
    """
    import mlflow  # noqa: PLC0415 - MLflow only when a model is loaded
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        model_uri = pinned_model_uri(model_uri)
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError, ValueError) as error:
        hint = ""
        if "@" in model_uri:
            hint = (
                " The alias is set when `kedro run` (training, evaluation, promotion) "
                "promotes a model; or give another URI (--model-uri, or "
                "--params=inference.model_uri=runs:/<run id>/model)."
            )
        raise ModelNotLoadedError(
            f"Could not load the MLflow model {model_uri!r} from the tracking store "
            f"{mlflow.get_tracking_uri()!r}: {str(error).splitlines()[0]}.{hint}"
        ) from error
    model.metadata.model_uri = model_uri
    return model


def check_model_files(model_uri: str) -> None:
    """The files of the logged model at `model_uri` (pinned) are those it was saved with
    (SHA-256; `madewithml.core.tagger.check_files`), checked without loading it: what `kedro
    serve` does before it starts Ray, so that a damaged model is named in one line rather than
    in a traceback of each replica that fails to load it.

    Raises:
        ModelNotLoadedError: no such model, naming the URI and the tracking store.
        ModelFilesError: naming the file that is missing or differs.
    """
    import mlflow  # noqa: PLC0415 - MLflow only when a model is checked
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except (MlflowException, OSError) as error:
        raise ModelNotLoadedError(
            f"Could not find the MLflow model {model_uri!r} in the tracking store "
            f"{mlflow.get_tracking_uri()!r}: {str(error).splitlines()[0]}"
        ) from error
    for settings in local.rglob(SETTINGS_FILE):
        check_saved_files(settings.parent)
