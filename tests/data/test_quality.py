"""What a schema cannot see (madewithml.data.quality): repeated and contradictory texts, tags too
small to split, holdout projects that are in the training data. Examples and generated tables."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.core.text import project_text
from madewithml.data.quality import (
    check_leakage,
    check_split_preconditions,
    overlap,
    resolve_duplicate_texts,
)
from madewithml.data.schemas import DataValidationError

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]


def _table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["title", "description", "tag"])
    frame.insert(0, "id", range(100, 100 + len(frame)))
    return frame.assign(text=project_text(frame["title"], frame["description"]))


def test_a_trailing_space_makes_a_contradiction_that_is_refused_by_ids_and_tags():
    projects = _table(
        [
            ("Feature store", "Serving features", "mlops"),
            ("Feature store ", "Serving features", "other"),
            ("YOLO", "Detection", "computer-vision"),
        ]
    )
    with pytest.raises(DataValidationError) as error:
        resolve_duplicate_texts(projects, "error")
    assert "ids [100, 101] tagged ['mlops', 'other']" in str(error.value)
    assert "data_processing.contradictory_labels" in str(error.value)


def test_majority_keeps_the_most_frequent_tag_and_a_tie_is_an_error():
    rows = [("A", "b", "mlops"), ("a", "b!", "mlops"), ("A ", "b", "other"), ("C", "d", "other")]
    kept = resolve_duplicate_texts(_table(rows), "majority")
    assert kept[["id", "tag"]].values.tolist() == [[100, "mlops"], [103, "other"]]
    with pytest.raises(DataValidationError, match="no majority tag for ids"):
        resolve_duplicate_texts(_table(rows[1:]), "majority")


def test_drop_removes_every_row_of_a_contradictory_text():
    rows = [("A", "b", "mlops"), ("A ", "b", "other"), ("C", "d", "other")]
    assert resolve_duplicate_texts(_table(rows), "drop")["id"].tolist() == [102]


def test_copies_with_the_same_tag_keep_their_first_row(caplog):
    rows = [("A", "b", "mlops"), ("C", "d", "other"), ("a!", "B", "mlops")]
    assert resolve_duplicate_texts(_table(rows), "error")["id"].tolist() == [100, 101]
    assert "1 projects repeat an earlier text after cleaning: dropped (ids 102)" in caplog.text


tables = st.lists(
    st.tuples(
        st.sampled_from(["Graph nets", "graph nets ", "GAN", "gan!", "BERT", "Kubeflow"]),
        st.sampled_from(["for molecules", "images", ""]),
        st.sampled_from(TAGS),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(tables, st.sampled_from(["error", "majority", "drop"]))
def test_any_table_comes_out_with_every_text_once_or_a_named_error(rows, policy):
    projects = _table(rows)
    contradictory = projects.groupby("text")["tag"].nunique().gt(1).any()
    try:
        resolved = resolve_duplicate_texts(projects, policy)
    except DataValidationError as error:
        assert policy in ("error", "majority") and contradictory
        assert "tagged" in str(error)
        return
    assert policy != "error" or not contradictory
    assert not resolved["text"].duplicated().any()  # so no split can put a text on both sides
    assert set(resolved["id"]) <= set(projects["id"])
    for text, group in projects.groupby("text"):
        kept = resolved[resolved["text"] == text]
        counts = group["tag"].value_counts()
        if counts.size == 1:
            assert kept["id"].tolist() == [group["id"].iloc[0]]  # the first copy
        elif policy == "drop":
            assert kept.empty
        else:
            assert kept["tag"].tolist() == [counts.index[0]]


def test_a_tag_too_small_to_split_is_named_with_its_count():
    projects = _table([("a", "b", "mlops")] + [(f"x{i}", "y", "other") for i in range(12)])
    with pytest.raises(DataValidationError, match=r"'mlops' has 1 \(data_processing.min_rows"):
        check_split_preconditions(projects, 10)
    check_split_preconditions(projects[projects["tag"] == "other"], 10)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 29), unique=True, max_size=10))
def test_holdout_projects_drawn_from_the_training_data_are_all_found(drawn):
    training = _table([(f"Project {i}", f"about {i}", TAGS[i % 4]) for i in range(30)])
    fresh = _table([(f"Other {i}", f"new {i}", "mlops") for i in range(5)]).assign(
        id=range(500, 505)
    )
    holdout = pd.concat([training.iloc[drawn].assign(id=lambda f: f["id"] + 1000), fresh])
    found = overlap(training, holdout)
    expected = sorted(training.iloc[drawn]["id"] + 1000)
    assert found["same_title_and_description"] == {"count": len(drawn), "ids": expected}
    assert found["same_text"]["ids"] == expected
    if drawn:
        with pytest.raises(DataValidationError, match=f"{len(drawn)} holdout projects are also"):
            check_leakage(holdout, training, "error")
    assert check_leakage(holdout, training, "warning") == found


def test_the_same_text_after_cleaning_counts_as_leaked():
    training = _table([("Graph Nets", "for molecules.", "other")])
    holdout = _table([("graph nets!", "For Molecules", "other")]).assign(id=[7])
    found = overlap(training, holdout)
    assert found["same_title_and_description"]["count"] == 0
    assert found["same_text"] == {"count": 1, "ids": [7]}


def _disguised(text: str, upper: list[bool], marks: str) -> str:
    """`text` as someone might retype it: some letters upper-case, punctuation added around
    words; cleaning turns it back into the same text."""
    cased = "".join(
        c.upper() if flip else c for c, flip in zip(text, upper * len(text), strict=False)
    )
    return " ".join(f"{marks}{word}{marks[::-1]}" for word in cased.split())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 29), unique=True, min_size=1, max_size=10),
    st.lists(st.booleans(), min_size=1, max_size=5),
    st.sampled_from(["", "!", "(", '"', "..."]),
)
def test_holdout_projects_retyped_from_the_training_data_are_leaks_too(drawn, upper, marks):
    # Not the same title and description, but the same text after cleaning: the model has
    # seen them all the same, and the evaluation must refuse (or report) them.
    training = _table([(f"Project {i}", f"about topic {i}", TAGS[i % 4]) for i in range(30)])
    retyped = [
        (_disguised(f"Project {i}", upper, marks), _disguised(f"about topic {i}", upper, marks))
        for i in drawn
    ]
    holdout = _table([(title, description, "mlops") for title, description in retyped])
    holdout = holdout.assign(id=[1000 + i for i in drawn])
    exact = overlap(training, holdout)["same_title_and_description"]["ids"]
    cleaned_only = sorted(set(holdout["id"]) - set(exact))
    with pytest.raises(DataValidationError, match=f"{len(drawn)} holdout projects are also"):
        check_leakage(holdout, training, "error")
    found = check_leakage(holdout, training, "warning")
    assert found["same_text"]["ids"] == sorted(holdout["id"])
    if cleaned_only:
        with pytest.raises(DataValidationError, match=str(cleaned_only[0])):
            check_leakage(holdout[holdout["id"].isin(cleaned_only)], training, "error")
