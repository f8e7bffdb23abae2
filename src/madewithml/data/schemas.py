"""Data contracts: the pandera schema of a raw project table and readable validation errors."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from madewithml.core.text import is_blank

RAW_COLUMNS = ["id", "created_on", "title", "description", "tag"]
MAX_IDS_IN_MESSAGE = 10


class DataValidationError(ValueError):
    """Raised when a raw table breaks its contract; the message names columns and row ids."""


def _not_blank(series: pd.Series) -> pd.Series:
    return ~series.map(is_blank)


def _is_date(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce", format="mixed").notna()


RAW_PROJECTS_SCHEMA = pa.DataFrameSchema(
    {
        "id": pa.Column(int, unique=True, nullable=False),
        "created_on": pa.Column(
            str, pa.Check(_is_date, error="has values that are not dates"), nullable=False
        ),
        "title": pa.Column(str, pa.Check(_not_blank, error="has empty strings"), nullable=False),
        "description": pa.Column(str, nullable=False),
        "tag": pa.Column(str, nullable=False),
    },
    unique=["title", "description"],  # message in _describe names these two columns
    strict=False,
    ordered=False,
    name="raw projects",
)


def _ids(frame: pd.DataFrame, index_values: pd.Series) -> list:
    """Map failing row positions back to the table's `id` column where it is usable."""
    rows = [i for i in index_values.dropna().unique().tolist() if i in frame.index]
    values = frame.loc[rows, "id"].tolist() if "id" in frame.columns else rows
    try:
        return sorted(set(values))
    except TypeError:  # ids of mixed types
        return sorted(set(values), key=str)


def _explain(check: str) -> str:
    """Turn a pandera check name into words."""
    if check == "field_uniqueness":
        return "has duplicated values"
    if check == "not_nullable":
        return "has missing values"
    if check.startswith("dtype("):
        return f"has the wrong type (expected {check[len('dtype(') : -1]})"
    return check


def _describe(frame: pd.DataFrame, errors: SchemaErrors) -> str:
    """One line per failed check: the column, what failed, and the ids of the failing rows."""
    cases = errors.failure_cases
    lines = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        if check == "column_in_dataframe":
            missing = str(group["failure_case"].iloc[0])
            alike = [c for c in map(str, frame.columns) if c.strip().lower() == missing]
            hint = f" (found {alike[0]!r}: column names are lower case)" if alike else ""
            lines.append(f"missing column {missing!r}{hint}")
            continue
        ids = _ids(frame, group["index"])
        shown = ", ".join(map(str, ids[:MAX_IDS_IN_MESSAGE]))
        more = f" and {len(ids) - MAX_IDS_IN_MESSAGE} more" if len(ids) > MAX_IDS_IN_MESSAGE else ""
        rows = f" (rows with id {shown}{more})" if ids else ""
        if check == "multiple_fields_uniqueness":
            line = "columns ('title', 'description') have duplicated pairs"
        else:
            line = f"column {column!r} {_explain(check)}"
        if line + rows not in lines:
            lines.append(line + rows)
    return "; ".join(lines)


def validate_raw_projects(frame: pd.DataFrame, name: str = "raw projects") -> pd.DataFrame:
    """Validate a raw project table against `RAW_PROJECTS_SCHEMA`.

    Raises:
        DataValidationError: naming every failing column and the ids of the failing rows.
    """
    if frame.empty:
        raise DataValidationError(f"{name} is invalid: it has no rows (columns: {list(frame)})")
    try:
        return RAW_PROJECTS_SCHEMA.validate(frame, lazy=True)
    except SchemaErrors as errors:
        raise DataValidationError(f"{name} is invalid: {_describe(frame, errors)}") from None
