"""Classification metrics shared by training, tuning and evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


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
