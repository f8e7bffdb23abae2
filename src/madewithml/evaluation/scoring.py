"""How a model is scored on labelled projects: one definition for the evaluation pipeline and
the HTTP service's /evaluate.

A model is scored **as served**: the `prediction` of the logged model's own `predict` at its
default threshold (what `mlflow models serve`, `kedro serve`, `kedro predict` and batch
inference answer), which promotion compares. Beside it, the **most likely tag** (the threshold
undone: the argmax of the probabilities) says what the threshold costs or gains, and the share
of projects answered `other` says how often the threshold speaks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.core.tagger import PREDICTION, tag_columns
from madewithml.data.labels import map_tags
from madewithml.evaluation.metrics import confusion, per_class_scores, weighted_scores
from madewithml.evaluation.slices import slice_masks

MOST_LIKELY = "most_likely"
SERVED = "served"


def predict_labelled(
    model: Any, projects: pd.DataFrame, threshold: float | None = None
) -> pd.DataFrame:
    """The logged model's answers for `projects`: `prediction` as served (at the model's own
    threshold, or `threshold`), `most_likely` (the argmax of the probabilities) and every
    tag's probability, with the projects' index. `model` is an MLflow pyfunc model of this
    project."""
    params = None if threshold is None else {THRESHOLD_PARAM: threshold}
    predictions = model.predict(projects[["title", "description"]], params=params)
    predictions.index = projects.index
    tags = tag_columns(predictions)
    return predictions.assign(**{MOST_LIKELY: predictions[tags].idxmax(axis=1)})[
        [PREDICTION, MOST_LIKELY, *tags]
    ]


def score_answers(
    projects: pd.DataFrame, answers: pd.Series | list, classes: list[str]
) -> dict[str, Any]:
    """Overall weighted scores, per-class scores, the confusion matrix and the scores on every
    registered slice (see madewithml.evaluation.slices) of `answers` against `projects`' true `tag`
    (`projects` has the raw `title` and `description` the slices read)."""
    y_true, y_pred = projects["tag"].tolist(), list(answers)
    return {
        "overall": weighted_scores(y_true, y_pred),
        "per_class": per_class_scores(y_true, y_pred, classes),
        "confusion_matrix": {"classes": classes, "matrix": confusion(y_true, y_pred, classes)},
        "slices": score_slices(projects, y_pred),
    }


def score_slices(projects: pd.DataFrame, y_pred: list) -> dict[str, Any]:
    """Weighted scores on every registered slice of `projects` (`madewithml.evaluation.slices`)."""
    scores = {}
    predicted = pd.Series(y_pred, index=projects.index)
    for name, mask in slice_masks(projects).items():
        rows = mask.to_numpy()
        scores[name] = (
            weighted_scores(projects.loc[rows, "tag"].tolist(), predicted[rows].tolist())
            if rows.any()
            else {"precision": None, "recall": None, "f1": None, "num_samples": 0}
        )
    return scores


def score_model(
    projects: pd.DataFrame, predictions: pd.DataFrame, classes: list[str], other_tag: str
) -> dict[str, Any]:
    """The model's scores on labelled `projects` from `predict_labelled`'s `predictions` (same
    rows, same order): ``served`` and ``most_likely`` (each as `score_answers`), and the share
    of projects ``answered_other`` by each and truly `other_tag`."""
    projects = projects.reset_index(drop=True)
    served = predictions[PREDICTION].to_numpy()
    most_likely = predictions[MOST_LIKELY].to_numpy()
    return {
        SERVED: score_answers(projects, served, classes),
        MOST_LIKELY: score_answers(projects, most_likely, classes),
        "answered_other": {
            SERVED: float((served == other_tag).mean()),
            MOST_LIKELY: float((most_likely == other_tag).mean()),
            "true": float((projects["tag"] == other_tag).mean()),
        },
    }


def evaluate(
    model: Any, projects: pd.DataFrame, other_tag: str, threshold: float | None = None
) -> dict[str, Any]:
    """The evaluation pipeline's scores of `model` on labelled `projects` (title, description,
    tag) as served (at the model's own threshold, or `threshold`) and by the most likely tag.
    Tags the model does not know count as `other_tag`."""
    predictions = predict_labelled(model, projects, threshold)
    classes = tag_columns(predictions.drop(columns=MOST_LIKELY))
    labelled = map_tags(projects, [tag for tag in classes if tag != other_tag], other_tag)
    return score_model(labelled, predictions, classes, other_tag)
