"""The MLflow pyfunc model: a `Tagger` behind MLflow's `predict(model_input, params)`.

Logged as a model from code (`logged_model.py`, no pickle) with the tagger's folder as its one
artifact; `madewithml.shipping.packaging` logs it. Every way this project predicts goes through
`TaggerModel.predict`: `kedro predict`, batch inference, evaluation, the HTTP service and
`mlflow models serve`.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

from madewithml.core.inputs import InvalidInputError
from madewithml.core.tagger import Tagger

logger = logging.getLogger(__name__)

TAGGER_ARTIFACT = "tagger"
THRESHOLD_PARAM = "inference.threshold"


class InvalidRequest(InvalidInputError, MlflowException):
    """An `InvalidInputError` as MLflow knows a client's error: every server answers it 4xx."""

    def __init__(self, message: str) -> None:
        MlflowException.__init__(self, message, error_code=INVALID_PARAMETER_VALUE)


class ModelFailure(MlflowException):
    """The model failed on a valid input: every server answers it 500 with this one line; the
    traceback goes to the server's log, not to the client."""

    def __init__(self, error: Exception) -> None:
        super().__init__(
            f"the model failed to answer ({type(error).__name__}); the server's log has the "
            "traceback",
            error_code=INTERNAL_ERROR,
        )


class TaggerModel(mlflow.pyfunc.PythonModel):
    """`predict(projects, params={"inference.threshold": t})`: the `prediction` after the
    threshold rule and the probability of every tag, one row per project.

    Loaded on the GPU when there is one, unless `model_config={"device": "cpu"}` says otherwise
    (`mlflow.pyfunc.load_model(uri, model_config=...)`).
    """

    tagger: Tagger

    def load_context(self, context: Any) -> None:
        """Read the tagger's files from the model's artifacts."""
        device = (context.model_config or {}).get("device")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tagger = Tagger.load(context.artifacts[TAGGER_ARTIFACT], device=device)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Tag each row of `model_input` (columns `title` and `description`)."""
        try:
            return self.tagger.predict(model_input, (params or {}).get(THRESHOLD_PARAM))
        except InvalidInputError as error:
            # MLflow's scoring server answers an MlflowException with its code (400 here) and
            # its message only; any other exception with a 400 carrying the whole traceback.
            raise InvalidRequest(str(error)) from error
        except Exception as error:
            logger.exception("the model failed on %d rows", len(model_input))
            raise ModelFailure(error) from error
