"""Predictions as the service and `kedro predict` answer them: one JSON object per project."""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.core.tagger import PREDICTION, tag_columns


def answers(predictions: pd.DataFrame) -> list[dict[str, Any]]:
    """``[{"prediction": tag, "probabilities": {tag: p, ...}}, ...]``, one per row."""
    tags = tag_columns(predictions)
    return [
        {"prediction": prediction, "probabilities": dict(zip(tags, map(float, row), strict=True))}
        for prediction, row in zip(
            predictions[PREDICTION], predictions[tags].to_numpy(), strict=True
        )
    ]
