"""The MLflow pyfunc model: a `Tagger` behind MLflow's `predict(model_input, params)`.

Logged as a model from code (`logged_model.py`, no pickle) with the tagger's folder as its one
artifact; `madewithml.shipping.packaging` logs it. Every way this project predicts goes through
`TaggerModel.predict`: `kedro predict`, batch inference, evaluation, the HTTP service and
`mlflow models serve`.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch

from madewithml.core.tagger import Tagger

TAGGER_ARTIFACT = "tagger"
THRESHOLD_PARAM = "inference.threshold"


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
        threshold = (params or {}).get(THRESHOLD_PARAM)
        return self.tagger.predict(model_input, None if threshold is None else float(threshold))
