"""Monitoring nodes: a window of the request log, and the feedback queue drawn from it."""

from __future__ import annotations

import pandas as pd

from madewithml.monitoring.feedback import feedback_queue, requests_in_window


def select_window(request_log: pd.DataFrame, days: float) -> pd.DataFrame:
    """The request log's last `days` days, counted back from its latest answer."""
    return requests_in_window(request_log, days)


def queue_for_labelling(
    requests: pd.DataFrame, other_tag: str, uncertain_below: float, max_rows: int
) -> pd.DataFrame:
    """The answers the model was least sure of, as a raw table with the tag left empty."""
    return feedback_queue(requests, other_tag, uncertain_below, max_rows)
