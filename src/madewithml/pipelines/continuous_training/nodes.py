"""Nodes of continuous training's intake: the incoming labelled rows, merged and reported."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from madewithml.data.intake import merge_labelled
from madewithml.datasets.tracking import metrics_history


def merge_incoming(
    dataset: pd.DataFrame,
    incoming: dict[str, Callable[[], pd.DataFrame]],
    holdout: pd.DataFrame,
    remove_stopwords: bool,
    holdout_overlap: str,
) -> tuple[pd.DataFrame, dict]:
    """The training data with the new labelled rows of every incoming file (a partitioned
    dataset: file name → loader) that repeat neither it nor each other nor the holdout, and
    the intake report (`madewithml.data.intake`)."""
    tables = {name: load() for name, load in incoming.items()}
    return merge_labelled(dataset, tables, holdout, remove_stopwords, holdout_overlap)


def report_intake_metrics(intake_report: dict) -> dict[str, dict[str, float]]:
    """The intake's counts as MLflow metrics: rows added, left out per reason, and the size
    of the training data after the merge."""
    metrics = {
        "incoming_rows": intake_report["incoming_rows"],
        "added_rows": intake_report["added"]["count"],
        "training_rows": intake_report["training_rows_after"],
    }
    for reason, dropped in intake_report["dropped"].items():
        metrics[f"dropped_{reason}"] = dropped["count"]
    return metrics_history(metrics)
