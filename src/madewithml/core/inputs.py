"""What the model accepts: a table with a text `title` and a text `description` per row.

The checks are plain pandas (the shipped model carries no schema library); errors name the
column and the rows, by `id` where the table has one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from madewithml.core.text import is_blank

INPUT_COLUMNS = ("title", "description")
MAX_ROWS_IN_MESSAGE = 10


class InvalidInputError(ValueError):
    """Projects to predict (or a threshold) that break the input contract; the message names
    columns and rows. The pyfunc model hands it to MLflow as a 400 (`core/pyfunc.py`)."""


def check_threshold(value: Any) -> float:
    """`value` as a threshold on the top probability: a number in [0, 1].

    Raises:
        InvalidInputError: for NaN, a number outside [0, 1], a bool or anything not a number
            (text included: MLflow passes a `params` value as the request gives it).
    """
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif (
        hasattr(value, "dtype") and getattr(value, "ndim", None) == 0 and value.dtype.kind in "iuf"
    ):
        number = float(value)  # a numpy scalar
    if number is None or not 0 <= number <= 1:  # NaN is neither
        raise InvalidInputError(f"threshold must be a number in [0, 1], got {value!r}")
    return number


def _kind(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    return type(value).__name__


def _rows(frame: pd.DataFrame, mask: pd.Series) -> str:
    """The failing rows by their `id` (a column, or the index named so), else by index."""
    labels = frame.loc[mask, "id"] if "id" in frame.columns else frame.index[mask.to_numpy()]
    shown = ", ".join(map(str, list(labels)[:MAX_ROWS_IN_MESSAGE]))
    more = len(labels) - MAX_ROWS_IN_MESSAGE
    name = "id" if "id" in frame.columns or frame.index.name == "id" else "index"
    return f"rows with {name} {shown}" + (f" and {more} more" if more > 0 else "")


def check_projects(
    frame: pd.DataFrame, name: str = "projects to predict", reserved: Sequence[str] = ()
) -> pd.DataFrame:
    """`frame`'s `title` and `description` columns (other columns are left out).

    Raises:
        InvalidInputError: no rows, a missing column, a column named twice or named as one the
            answer will have (`reserved`), a value that is not text (numbers, null), or a blank
            title; naming the column and the rows.
    """
    columns = [str(column) for column in frame.columns]
    missing = [column for column in INPUT_COLUMNS if column not in columns]
    if missing:
        raise InvalidInputError(f"{name}: missing column(s) {missing} (got {columns})")
    twice = sorted({column for column in columns if columns.count(column) > 1})
    if twice:
        raise InvalidInputError(f"{name}: column(s) {twice} appear more than once")
    clashing = [column for column in reserved if column in columns]
    if clashing:
        raise InvalidInputError(
            f"{name}: column(s) {clashing} are the answer's own (the output of an earlier "
            "prediction?): drop them"
        )
    if frame.empty:
        raise InvalidInputError(f"{name}: the table has no rows")
    problems = []
    for column in INPUT_COLUMNS:
        values = frame[column]
        not_text = ~values.map(lambda value: isinstance(value, str))
        if not_text.any():
            kinds = "/".join(sorted({_kind(value) for value in values[not_text]}))
            problems.append(
                f"column {column!r} must be text, not {kinds} ({_rows(frame, not_text)})"
            )
    if not problems:
        blank = frame["title"].map(is_blank)
        if blank.any():
            problems.append(f"column 'title' is blank ({_rows(frame, blank)})")
    if problems:
        raise InvalidInputError(f"{name}: " + "; ".join(problems))
    return frame[list(INPUT_COLUMNS)]


def check_texts(frame: pd.DataFrame, texts: pd.Series, name: str = "projects to predict") -> None:
    """Refuse rows whose title and description hold no letter or digit of any script (emoji or
    punctuation only): cleaning leaves them empty and the model would answer for nothing.

    Raises:
        InvalidInputError: naming the rows.
    """
    empty = (texts == "").to_numpy()
    if empty.any():
        mask = pd.Series(empty, index=frame.index)
        raise InvalidInputError(
            f"{name}: no letter or digit in title and description ({_rows(frame, mask)})"
        )
