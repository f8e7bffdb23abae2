"""Nodes of the inference pipelines: the body of the logged MLflow pyfunc model (validate, clean,
tokenize, predict, threshold) and the batch pipeline that runs a logged model over a file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from madewithml.model import TagClassifier
from madewithml.schemas import validate_inference_input
from madewithml.train_loop import to_tensors


def validate_inputs(projects: pd.DataFrame) -> pd.DataFrame:
    """Check there is a string `title` and `description` per row; keep only those columns."""
    return validate_inference_input(projects)[["title", "description"]]


def predict_tags(
    model: TagClassifier,
    model_input: pd.DataFrame,
    class_to_index: dict[str, int],
    batch_size: int,
) -> pd.DataFrame:
    """The most likely tag of each row and the probability of every tag."""
    classes = sorted(class_to_index, key=class_to_index.get)
    probabilities = np.zeros((len(model_input), len(classes)), dtype=np.float64)
    for start in range(0, len(model_input), batch_size):
        rows = model_input.iloc[start : start + batch_size]
        input_ids, attention_mask = to_tensors(
            rows["input_ids"].to_numpy(), rows["attention_mask"].to_numpy()
        )
        probabilities[start : start + len(rows)] = model.predict_proba(input_ids, attention_mask)
    predictions = pd.DataFrame(probabilities, columns=classes, index=model_input.index)
    predictions.insert(0, "prediction", [classes[i] for i in probabilities.argmax(axis=1)])
    return predictions


def tag_columns(predictions: pd.DataFrame) -> list[str]:
    """The probability columns of a predictions table: every column but `prediction`."""
    return [column for column in predictions.columns if column != "prediction"]


def most_likely_tag(predictions: pd.DataFrame) -> pd.Series:
    """The tag with the highest probability in each row (no threshold)."""
    return predictions[tag_columns(predictions)].idxmax(axis=1)


def apply_threshold(predictions: pd.DataFrame, threshold: float, other_tag: str) -> pd.DataFrame:
    """The seed's rule: a row whose top probability is below `threshold` is predicted `other_tag`.

    `threshold` 0 keeps every most likely tag.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"inference.threshold must be between 0 and 1, not {threshold!r}")
    unsure = predictions[tag_columns(predictions)].max(axis=1) < threshold
    return predictions.assign(prediction=predictions["prediction"].where(~unsure, other_tag))


def predict_projects(model: Any, projects: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Run a logged pyfunc model over a table of projects at the given threshold.

    Returns the input's columns followed by the prediction and the probability of every tag.
    """
    missing = {"title", "description"} - set(projects.columns)
    if missing:
        raise ValueError(f"projects_to_predict is missing the column(s) {sorted(missing)}")
    predictions = model.predict(
        projects[["title", "description"]], params={"inference.threshold": threshold}
    )
    predictions.index = projects.index
    return pd.concat([projects, predictions], axis=1)
