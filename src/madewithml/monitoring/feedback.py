"""The feedback queue: what the service was least sure of, for a person to label.

From the request log's rows: the answers that were `other` or whose top probability was under
a bound, one row per distinct text (the digest of its title and description), least sure first,
in the raw dataset's columns with the tag left empty. Filled in, the file is a raw table that
`data_processing` accepts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd

from madewithml.data.schemas import RAW_COLUMNS

logger = logging.getLogger(__name__)

# A queued project's id: this many leading hex digits of its text's digest (48 bits), the same
# id whenever the same text is queued again.
ID_HEX_DIGITS = 12


def requests_in_window(request_log: pd.DataFrame, days: float) -> pd.DataFrame:
    """The rows of the last `days` days of the log, counted back from its latest answer (so the
    same log always gives the same window)."""
    if request_log.empty:
        return request_log
    end = request_log["time"].max()
    return request_log[request_log["time"] > end - timedelta(days=days)]


def feedback_queue(
    requests: pd.DataFrame, other_tag: str, uncertain_below: float, max_rows: int
) -> pd.DataFrame:
    """The projects to label (module docstring): answered `other_tag`, or with a top
    probability under `uncertain_below`; each text once (its least sure answer, first seen
    when); least sure first; at most `max_rows`. Rows whose text was not stored
    (`serving.request_log.store_text: false`) cannot be labelled and are left out (counted in
    the log)."""
    unsure = requests[
        (requests["prediction"] == other_tag) | (requests["top_probability"] < uncertain_below)
    ]
    without_text = unsure["title"].isna() | unsure["description"].isna()
    if without_text.any():
        logger.warning(
            "feedback queue: %d unsure answers have no stored text "
            "(serving.request_log.store_text: false) and cannot be labelled",
            int(without_text.sum()),
        )
    unsure = unsure[~without_text]
    per_text = unsure.groupby("text_sha256", sort=False).agg(
        title=("title", "first"),
        description=("description", "first"),
        first_seen=("time", "min"),
        top_probability=("top_probability", "min"),
    )
    ordered = per_text.sort_values(["top_probability", "first_seen"], kind="stable").head(max_rows)
    return pd.DataFrame(
        {
            "id": [int(digest[:ID_HEX_DIGITS], 16) for digest in ordered.index],
            "created_on": pd.to_datetime(ordered["first_seen"], utc=True)
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .to_numpy(),
            "title": ordered["title"].to_numpy(),
            "description": ordered["description"].to_numpy(),
            "tag": "",
        },
        columns=RAW_COLUMNS,
    )
