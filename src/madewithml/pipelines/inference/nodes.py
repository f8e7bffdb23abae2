"""Nodes of the inference pipeline (also the body of the logged MLflow pyfunc model)."""

from __future__ import annotations

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
