"""The one way this project loads a logged model from a URI: `kedro predict`, `kedro serve`,
batch inference, evaluation and the notebooks all call `load_model`."""

from __future__ import annotations

from typing import Any

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
