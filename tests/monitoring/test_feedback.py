"""The feedback queue: only the unsure answers, each text once, least sure first, bounded, in
the raw dataset's columns; filled in, data_processing accepts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.data.schemas import RAW_COLUMNS
from madewithml.monitoring.feedback import feedback_queue, requests_in_window
from madewithml.monitoring.request_log import COLUMNS, answer_rows
from madewithml.pipelines.data_processing.nodes import add_clean_text, validate_projects

TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")
MODEL = {"model_name": "m", "model_version": "1", "run_id": "r", "replica": "a"}
START = datetime(2026, 12, 1, tzinfo=UTC)
WORDS = st.text("abcdefgh ", min_size=1, max_size=12).filter(str.strip)


def _log(answers: list[tuple[str, str, str, float, int]], store_text: bool = True) -> pd.DataFrame:
    """A request log of (title, description, prediction, top probability, minute) answers."""
    rows = []
    for n, (title, description, tag, top, minute) in enumerate(answers):
        rest = (1 - top) / 3
        probabilities = {t: (top if t == tag else rest) for t in TAGS}
        rows += answer_rows(
            when=START + timedelta(minutes=minute),
            request_id=f"r{n}",
            projects=[{"title": title, "description": description}],
            predictions=[{"prediction": tag, "probabilities": probabilities}],
            model=MODEL,
            latency_ms=10.0,
            store_text=store_text,
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


ANSWERS = st.lists(
    st.tuples(
        WORDS,
        WORDS,
        st.sampled_from(TAGS),
        st.floats(0.25, 1.0),
        st.integers(0, 60 * 24 * 10),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(answers=ANSWERS, uncertain_below=st.floats(0.3, 0.9), max_rows=st.integers(1, 50))
def test_the_queue_holds_each_unsure_text_once_least_sure_first(answers, uncertain_below, max_rows):
    log = _log(answers)
    queue = feedback_queue(log, "other", uncertain_below, max_rows)
    assert list(queue.columns) == RAW_COLUMNS
    assert (queue["tag"] == "").all()
    unsure = log[(log["prediction"] == "other") | (log["top_probability"] < uncertain_below)]
    texts = set(zip(unsure["title"], unsure["description"], strict=True))
    queued = list(zip(queue["title"], queue["description"], strict=True))
    assert len(queued) == len(set(queued)) == min(len(texts), max_rows)
    assert set(queued) <= texts
    assert queue["id"].is_unique
    # least sure first: each text's lowest top probability, in order
    least = unsure.groupby(["title", "description"])["top_probability"].min()
    order = [least[text] for text in queued]
    assert order == sorted(order)
    # nothing sure that was left out comes before what was kept
    if len(texts) > max_rows:
        assert max(order) <= sorted(least)[max_rows - 1] + 1e-12


def test_filled_in_the_queue_is_a_raw_table_that_data_processing_accepts():
    log = _log(
        [
            ("Segmenting cells", "A U-Net for microscopy.", "other", 0.4, 1),
            ("Segmenting cells", "A U-Net for microscopy.", "computer-vision", 0.5, 2),
            ("Feature store", "Serving features online.", "mlops", 0.55, 3),
            ("Sure thing", "Transformers for text.", "natural-language-processing", 0.95, 4),
        ]
    )
    queue = feedback_queue(log, "other", 0.6, 100)
    assert list(queue["title"]) == ["Segmenting cells", "Feature store"]
    assert queue.loc[0, "created_on"] == "2026-12-01 00:01:00"  # first seen
    labelled = queue.assign(tag=["computer-vision", "mlops"])
    validated = add_clean_text(validate_projects(labelled), False)
    assert len(validated) == 2 and validated["text"].str.len().gt(0).all()


def test_answers_without_their_text_cannot_be_queued(caplog):
    log = _log([("Secret", "Not stored.", "other", 0.3, 1)], store_text=False)
    assert feedback_queue(log, "other", 0.6, 10).empty
    assert "no stored text" in caplog.text


def test_the_window_counts_back_from_the_latest_answer():
    log = _log([("a", "b", "mlops", 0.9, 0), ("c", "d", "mlops", 0.9, 60 * 24 * 3)])
    assert list(requests_in_window(log, 2)["title"]) == ["c"]
    assert list(requests_in_window(log, 4)["title"]) == ["a", "c"]
    assert requests_in_window(log.iloc[:0], 2).empty
