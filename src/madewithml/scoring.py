"""How a model is scored on labelled projects: one definition for the evaluation pipeline and
the HTTP service's /evaluate.

Predictions are the model's most likely tag (the logged model's `predict` at threshold 0): the
threshold is a serving rule, not part of the score.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.core.mlflow_model import THRESHOLD_PARAM
from madewithml.core.tagger import PREDICTION, tag_columns
from madewithml.labels import map_tags
from madewithml.metrics import confusion, per_class_scores, weighted_scores
from madewithml.slices import slice_masks


def predict_most_likely(model: Any, projects: pd.DataFrame) -> pd.DataFrame:
    """The logged model's answers for `projects` with no threshold: `prediction` is the most
    likely tag. `model` is an MLflow pyfunc model of this project."""
    predictions = model.predict(projects[["title", "description"]], params={THRESHOLD_PARAM: 0.0})
    predictions.index = projects.index
    return predictions


def score_predictions(predictions: pd.DataFrame, classes: list[str]) -> dict:
    """Overall weighted scores, per-class scores and the confusion matrix of a table with the
    true `tag` and the `prediction`."""
    y_true, y_pred = predictions["tag"].tolist(), predictions[PREDICTION].tolist()
    return {
        "overall": weighted_scores(y_true, y_pred),
        "per_class": per_class_scores(y_true, y_pred, classes),
        "confusion_matrix": {"classes": classes, "matrix": confusion(y_true, y_pred, classes)},
    }


def score_slices(projects: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """Weighted scores on every registered slice of `projects` (see madewithml.slices)."""
    scores = {}
    for name, mask in slice_masks(projects).items():
        rows = predictions[mask.to_numpy()]
        scores[name] = (
            weighted_scores(rows["tag"].tolist(), rows[PREDICTION].tolist())
            if len(rows)
            else {"precision": None, "recall": None, "f1": None, "num_samples": 0}
        )
    return scores


def evaluate(model: Any, projects: pd.DataFrame, other_tag: str) -> dict[str, Any]:
    """The evaluation pipeline's scores of `model` on labelled `projects` (title, description,
    tag): overall and per-class scores, the confusion matrix and the slices. Tags the model does
    not know count as `other_tag`."""
    predictions = predict_most_likely(model, projects)
    classes = tag_columns(predictions)
    labelled = map_tags(projects, [tag for tag in classes if tag != other_tag], other_tag)
    scored = pd.DataFrame(
        {"tag": labelled["tag"].to_numpy(), PREDICTION: predictions[PREDICTION].to_numpy()}
    )
    return {
        **score_predictions(scored, classes),
        "slices": score_slices(labelled.reset_index(drop=True), scored),
    }
