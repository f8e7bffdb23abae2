import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madewithml.core.inputs import InvalidInputError, check_projects, check_threshold


def test_keeps_title_and_description_only():
    frame = pd.DataFrame({"title": ["A"], "description": ["b"], "extra": [1]})
    assert list(check_projects(frame).columns) == ["title", "description"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"title": ["A"]}), r"missing column\(s\) \['description'\]"),
        (pd.DataFrame({"title": [], "description": []}), "the table has no rows"),
        (
            pd.DataFrame({"title": ["a", " "], "description": ["b", "c"]}),
            r"'title' is blank \(rows with index 1\)",
        ),
        (
            pd.DataFrame({"title": ["a", "\u200b\u200b"], "description": ["b", "c"]}),
            r"'title' is blank \(rows with index 1\)",
        ),
        (
            pd.DataFrame({"title": [None], "description": ["b"]}),
            "'title' must be text, not missing",
        ),
        (
            pd.DataFrame({"id": [7, 9], "title": [42, "ok"], "description": ["b", float("nan")]}),
            r"'title' must be text, not int \(rows with id 7\); column 'description' must be "
            r"text, not missing \(rows with id 9\)",
        ),
    ],
)
def test_bad_rows_are_refused_by_column_and_row_id(frame, message):
    with pytest.raises(InvalidInputError, match=message):
        check_projects(frame)


def test_many_bad_rows_are_summarised():
    frame = pd.DataFrame({"id": range(100, 125), "title": [""] * 25, "description": ["x"] * 25})
    with pytest.raises(InvalidInputError, match=r"id 100, 101, .*, 109 and 15 more"):
        check_projects(frame)


def test_a_column_named_twice_is_refused_not_read_as_a_table():
    frame = pd.DataFrame([["A", "b", "c"]], columns=["title", "description", "title"])
    with pytest.raises(InvalidInputError, match=r"column\(s\) \['title'\] appear more than once"):
        check_projects(frame)


def test_a_column_named_as_the_answer_is_refused():
    frame = pd.DataFrame({"title": ["A"], "description": ["b"], "prediction": ["mlops"]})
    with pytest.raises(InvalidInputError, match=r"\['prediction'\] are the answer's own"):
        check_projects(frame, reserved=["prediction", "mlops"])
    assert list(check_projects(frame, reserved=["mlops"]).columns) == ["title", "description"]


@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.booleans(),
        st.none(),
        st.text(max_size=5),
        st.floats(0, 1).map(np.float32),
        st.floats(allow_nan=True).map(np.float64),
    )
)
def test_a_threshold_is_a_number_in_0_1_or_refused(value):
    """Issue 26: NaN (and 2, -5, text) passed as a threshold and every project was `other`."""
    is_number = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if is_number and 0 <= value <= 1:
        assert check_threshold(value) == float(value)
    else:
        with pytest.raises(InvalidInputError, match=r"threshold must be a number in \[0, 1\]"):
            check_threshold(value)


RESERVED = ["prediction", "computer-vision", "mlops", "natural-language-processing", "other"]


@given(
    extra=st.lists(
        st.one_of(st.sampled_from(RESERVED), st.text(min_size=1, max_size=12)),
        max_size=6,
        unique=True,
    ).filter(lambda names: not {"title", "description"} & set(names))
)
def test_a_table_is_refused_exactly_when_a_column_is_named_as_the_answer(extra):
    """Issue 26 (batch inference over its own earlier output read the stale `prediction`): any
    set of extra columns, refused if and only if one is named as a column of the answer, and
    those named; otherwise only title and description are read."""
    frame = pd.DataFrame({"title": ["GAN faces"], "description": ["images"]})
    for position, column in enumerate(extra):
        frame.insert(position % (len(frame.columns) + 1), column, ["stale"])
    clashing = [column for column in RESERVED if column in extra]
    if clashing:
        with pytest.raises(InvalidInputError, match="are the answer's own") as error:
            check_projects(frame, reserved=RESERVED)
        assert str(clashing) in str(error.value)
    else:
        assert list(check_projects(frame, reserved=RESERVED).columns) == ["title", "description"]
