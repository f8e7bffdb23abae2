"""Nodes of the batch inference pipeline: a logged model over a table of projects."""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.core.inputs import check_projects
from madewithml.core.mlflow_model import THRESHOLD_PARAM


def predict_projects(model: Any, projects: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Run a logged pyfunc model over a table of projects at the given threshold.

    Returns the input's columns followed by the prediction and the probability of every tag.
    """
    inputs = check_projects(projects, name="projects_to_predict")
    if "id" in projects.columns:  # so that the model names a row it refuses by its id
        inputs = inputs.set_axis(pd.Index(projects["id"], name="id"))
    predictions = model.predict(inputs, params={THRESHOLD_PARAM: threshold})
    predictions.index = projects.index
    return pd.concat([projects, predictions], axis=1)
