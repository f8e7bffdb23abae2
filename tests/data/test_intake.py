"""Continuous training's intake (madewithml.data.intake): new labelled rows merged into the
training data, never repeating it, each other or the holdout. Examples and generated tables."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.core.text import project_text
from madewithml.data.intake import merge_labelled
from madewithml.data.schemas import DataValidationError
from madewithml.data.stopwords import stopwords

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]


def _raw(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["id", "title", "description", "tag"])
    frame.insert(1, "created_on", "2024-01-01 00:00:00")
    return frame


DATASET = _raw([(1, "YOLO", "Object detection", "computer-vision"), (2, "BERT", "NLP", "other")])
HOLDOUT = _raw([(900, "Feature store", "Serving features", "mlops")])


def test_new_rows_join_and_repeats_of_the_data_each_other_or_the_holdout_do_not():
    incoming = {
        "b.csv": _raw(
            [
                (10, "Whisper", "Speech recognition", "natural-language-processing"),
                (11, "yolo!", "object DETECTION", "computer-vision"),  # training text
                (2, "Another", "Id of the training data", "other"),  # training id
            ]
        ),
        "a.csv": _raw(
            [
                (12, "Kubeflow", "Pipelines", "mlops"),
                (13, "Feature store ", "Serving features", "mlops"),  # holdout text
            ]
        ),
        "c.csv": _raw([(12, "Kubeflow again", "Same id as a.csv", "mlops")]),
    }
    merged, report = merge_labelled(DATASET, incoming, HOLDOUT, False, "drop")
    assert merged["id"].tolist() == [1, 2, 12, 10]  # the data first, then files by name
    assert report["added"] == {
        "count": 2,
        "ids": [12, 10],
        "per_tag": {"mlops": 1, "natural-language-processing": 1},
    }
    dropped = {reason: entry["ids"] for reason, entry in report["dropped"].items()}
    assert dropped == {
        "repeated_in_incoming": [12],
        "in_training_data": [11, 2],
        "in_holdout": [13],
    }
    assert report["files"] == {"a.csv": 2, "b.csv": 3, "c.csv": 1}
    assert (report["training_rows_before"], report["training_rows_after"]) == (2, 4)


def test_holdout_projects_stop_the_intake_under_the_error_policy_naming_ids_and_file():
    incoming = {"labelled.csv": _raw([(900, "Something", "else", "mlops")])}  # a holdout id
    with pytest.raises(DataValidationError) as error:
        merge_labelled(DATASET, incoming, HOLDOUT, False, "error")
    assert "ids 900, in 'labelled.csv'" in str(error.value)
    assert "continuous_training.holdout_overlap" in str(error.value)


def test_an_unlabelled_row_is_refused_naming_the_file_and_its_id():
    queue = _raw([(7, "Unsure", "A project nobody labelled yet", "mlops")])
    queue.loc[0, "tag"] = None  # the feedback queue's empty tag, read back from CSV
    with pytest.raises(DataValidationError) as error:
        merge_labelled(DATASET, {"feedback_queue.csv": queue}, HOLDOUT, False, "drop")
    assert "incoming file 'feedback_queue.csv'" in str(error.value)
    assert "'tag'" in str(error.value) and "id 7" in str(error.value)


def test_no_incoming_file_is_an_error():
    with pytest.raises(DataValidationError, match="no incoming files"):
        merge_labelled(DATASET, {}, HOLDOUT, False, "drop")


WORDS = st.sampled_from(["yolo", "bert", "gan", "mlflow", "ray", "drift", "unet", "gpt"])
TITLES = st.lists(WORDS, min_size=1, max_size=3).map(" ".join)
DESCRIPTIONS = st.sampled_from(["", "a", "b c", "the"])
TAG = st.sampled_from(TAGS)


def _unique_table(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    """A table that passes the raw schema: unique ids and (title, description) pairs."""
    frame = _raw(rows).drop_duplicates("id").drop_duplicates(["title", "description"])
    return frame.reset_index(drop=True)


def _rows(ids: tuple[int, int], max_size: int):
    return st.lists(
        st.tuples(st.integers(*ids), TITLES, DESCRIPTIONS, TAG), min_size=1, max_size=max_size
    )


# How an incoming row may repeat a known project (of the training data or the holdout).
REPEATS = {
    "same id": lambda row, new_id: (row[0], row[1] + " new", "other words", row[3]),
    "same title and description": lambda row, new_id: (new_id, row[1], row[2], row[3]),
    "same text, other case and punctuation": lambda row, new_id: (
        new_id,
        row[1].upper() + "!",
        row[2],
        row[3],
    ),
    "same text but a stopword": lambda row, new_id: (new_id, row[1], row[2] + " the", row[3]),
}


@st.composite
def intakes(draw):
    """Training data, a holdout, and incoming files mixing new rows with repeats of both."""
    dataset = _unique_table(draw(_rows((1, 30), 8)))
    holdout = _unique_table(draw(_rows((31, 40), 4)))
    known = [
        tuple(row)
        for row in pd.concat([dataset, holdout])[["id", "title", "description", "tag"]].itertuples(
            index=False
        )
    ]
    files = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(_rows((41, 60), 5))
        for _ in range(draw(st.integers(0, 4))):
            repeat = draw(st.sampled_from(sorted(REPEATS)))
            rows.append(REPEATS[repeat](draw(st.sampled_from(known)), draw(st.integers(41, 60))))
        files.append(_unique_table(rows))
    return dataset, holdout, {f"{i}.csv": table for i, table in enumerate(files)}


@settings(max_examples=100, deadline=None)
@given(case=intakes(), remove_stopwords=st.booleans())
def test_merged_data_never_repeats_an_id_or_text_and_holds_no_holdout_project(
    case, remove_stopwords
):
    dataset, holdout, incoming = case
    merged, report = merge_labelled(dataset, incoming, holdout, remove_stopwords, "drop")

    def texts(frame):  # as the model sees them
        return project_text(frame["title"], frame["description"], stopwords(remove_stopwords))

    added = merged.iloc[len(dataset) :]
    pd.testing.assert_frame_equal(merged.iloc[: len(dataset)], dataset)  # untouched, first
    assert added["id"].is_unique and texts(added).is_unique
    for other in (dataset, holdout):
        assert not added["id"].isin(other["id"]).any()
        assert not texts(added).isin(set(texts(other))).any()
    # every incoming row is added or left out for exactly one reason
    left_out = sum(entry["count"] for entry in report["dropped"].values())
    assert report["added"]["count"] + left_out == report["incoming_rows"]
    assert report["incoming_rows"] == sum(len(table) for table in incoming.values())
