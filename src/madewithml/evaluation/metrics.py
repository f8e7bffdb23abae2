"""Classification metrics (scikit-learn) of the evaluation, the calibration and the service's
/evaluate: weighted, per class, the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def weighted_scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Support-weighted precision, recall and F1, and the number of samples."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "num_samples": int(np.size(y_true)),
    }


def per_class_scores(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every class (in `classes` order)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), average=None, zero_division=0
    )
    return {
        tag: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, tag in enumerate(classes)
    }


def confusion(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> list[list[int]]:
    """Confusion matrix: row = true class, column = predicted class, both in `classes` order."""
    return confusion_matrix(y_true, y_pred, labels=list(classes)).tolist()
