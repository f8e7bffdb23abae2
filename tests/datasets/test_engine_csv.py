"""Batch inference's CSV dataset (pandas engine; the Ray Data engine in
tests/pipelines/inference/test_engines.py): text that a spreadsheet would run as a formula is
written escaped, everything else exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.io.core import DatasetError

from madewithml.datasets.engine_csv import FORMULA_STARTS, EngineCSVDataset, escape_formulas

cells = st.text(st.characters(exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1", "'=1", "a=b"]
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(cells, min_size=1, max_size=8), numbers=st.lists(st.integers(-9, 9)))
def test_no_saved_text_begins_as_a_formula_and_nothing_else_changes(tmp_path, texts, numbers):
    """Read back, each text is itself, with a `'` before it exactly when it began as a formula
    does; numbers (negative ones too) are as they were."""
    frame = pd.DataFrame({"title": texts, "score": (numbers + [0] * len(texts))[: len(texts)]})
    path = tmp_path / "out.csv"
    EngineCSVDataset(filepath=str(path), save_args={"index": False}).save(frame)
    saved = pd.read_csv(path, dtype={"title": str}, keep_default_na=False)
    assert saved["title"].tolist() == [
        "'" + text if text.startswith(FORMULA_STARTS) else text for text in texts
    ]
    assert not any(cell.startswith(FORMULA_STARTS) for cell in saved["title"])
    assert saved["score"].tolist() == frame["score"].tolist()


def test_escape_formulas_changes_only_text_that_begins_as_a_formula():
    frame = pd.DataFrame(
        {
            "title": ["=1+1", "plain", "-minus", None],
            "count": [-1, 2, 3, 4],
            "description": ["@home", "x", "y", "z"],
        }
    )
    escaped = escape_formulas(frame)
    assert escaped["title"].tolist()[:3] == ["'=1+1", "plain", "'-minus"]
    assert pd.isna(escaped["title"].iloc[3])
    assert escaped["count"].tolist() == [-1, 2, 3, 4]  # numbers are not text
    assert escaped["description"].tolist() == ["'@home", "x", "y", "z"]
    assert frame["title"].iloc[0] == "=1+1"  # the input is not changed


def test_formulas_keep_writes_text_as_it_is(tmp_path):
    path = tmp_path / "out.csv"
    EngineCSVDataset(filepath=str(path), formulas="keep", save_args={"index": False}).save(
        pd.DataFrame({"title": ["=1+1"]})
    )
    assert pd.read_csv(path)["title"].tolist() == ["=1+1"]
    with pytest.raises(DatasetError, match="formulas must be one of"):
        EngineCSVDataset(filepath=str(path), formulas="strip")
