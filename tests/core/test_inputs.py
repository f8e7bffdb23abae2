import pandas as pd
import pytest

from madewithml.core.inputs import InvalidInputError, check_projects


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
