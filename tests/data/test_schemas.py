import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madewithml.core.text import clean_text, is_blank
from madewithml.data.schemas import DataValidationError, validate_raw_projects


def test_valid_table_passes_unchanged(raw_projects):
    validated = validate_raw_projects(raw_projects)
    pd.testing.assert_frame_equal(validated, raw_projects)


def _broken(raw: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    broken = raw.copy()
    broken[column] = broken[column].astype(object)
    broken.loc[row, column] = value
    return broken


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("title", "", r"column 'title' has empty strings \(rows with id 4\)"),
        ("title", "   ", r"column 'title' has empty strings \(rows with id 4\)"),
        ("title", np.nan, r"column 'title' has missing values \(rows with id 4\)"),
        ("description", np.nan, r"column 'description' has missing values \(rows with id 4\)"),
        ("tag", np.nan, r"column 'tag' has missing values \(rows with id 4\)"),
        ("created_on", "someday", r"column 'created_on' has values that are not dates"),
        ("id", 1, r"column 'id' has duplicated values \(rows with id 1\)"),
    ],
)
def test_each_broken_rule_names_its_column_and_rows(raw_projects, column, value, expected):
    with pytest.raises(DataValidationError, match=expected):
        validate_raw_projects(_broken(raw_projects, column, 3, value))


@pytest.mark.parametrize("column", ["id", "created_on", "title", "description", "tag"])
def test_missing_column_is_named(raw_projects, column):
    with pytest.raises(DataValidationError, match=f"missing column '{column}'"):
        validate_raw_projects(raw_projects.drop(columns=column))


def test_duplicated_title_and_description_pair_is_named(raw_projects):
    duplicated = raw_projects.copy()
    duplicated.loc[5, ["title", "description"]] = duplicated.loc[2, ["title", "description"]]
    with pytest.raises(DataValidationError, match=r"\('title', 'description'\).*id 3, 6"):
        validate_raw_projects(duplicated)


def test_non_integer_ids_are_a_type_error(raw_projects):
    with pytest.raises(DataValidationError, match=r"column 'id' has the wrong type"):
        validate_raw_projects(raw_projects.assign(id=raw_projects["id"].astype(str) + "x"))


def test_all_failures_are_reported_at_once_with_the_table_name(raw_projects):
    broken = _broken(_broken(raw_projects, "title", 0, ""), "tag", 1, np.nan)
    with pytest.raises(DataValidationError) as error:
        validate_raw_projects(broken, name="dataset.csv")
    message = str(error.value)
    assert message.startswith("dataset.csv is invalid")
    assert "'title' has empty strings (rows with id 1)" in message
    assert "'tag' has missing values (rows with id 2)" in message


def test_long_lists_of_ids_are_shortened(raw_projects):
    broken = raw_projects.assign(title="")
    with pytest.raises(DataValidationError, match=r"id 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 20 more"):
        validate_raw_projects(broken)


# Issue 26's weak cases: a header in another case, a title with nothing to see.
ROW = {
    "id": 1,
    "created_on": "2020-02-20 06:43:18",
    "title": "YOLO",
    "description": "detection",
    "tag": "computer-vision",
}


def test_a_title_case_header_is_named_with_the_column_it_meant():
    table = pd.DataFrame([ROW]).rename(columns={"id": "Id"})
    with pytest.raises(DataValidationError) as error:
        validate_raw_projects(table)
    assert "missing column 'id' (found 'Id': column names are lower case)" in str(error.value)


@pytest.mark.parametrize("title", ["", "   ", "\u200b\u200b", "\ufeff", "\u2028\t", "\u00a0"])
def test_a_title_with_nothing_to_see_is_refused_by_id(title):
    table = pd.DataFrame([ROW, {**ROW, "id": 2, "title": title, "description": "other"}])
    with pytest.raises(
        DataValidationError, match=r"column 'title' has empty strings \(rows with id 2\)"
    ):
        validate_raw_projects(table)


INVISIBLE = st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf"])
VISIBLE = st.characters(categories=["L", "N", "P", "S", "M"]).filter(lambda c: not is_blank(c))


@given(blank=st.text(alphabet=INVISIBLE, max_size=20), visible=VISIBLE, at=st.integers(0, 20))
def test_blank_means_no_visible_character(blank, visible, at):
    """A property: text made only of spaces of any width, line breaks, control and format
    characters is blank, and cleaning leaves nothing of it; one visible character anywhere
    makes it not blank."""
    assert is_blank(blank)
    assert clean_text(blank) == ""
    assert not is_blank(blank[:at] + visible + blank[at:])
