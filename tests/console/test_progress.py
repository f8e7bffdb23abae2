"""Long work shows progress: a table in chunks (which changes nothing in the result), and
bars only where someone watches."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.console import progress
from madewithml.console.progress import in_chunks, show_progress_bar


def _double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y=frame["x"] * 2)


@settings(max_examples=100, deadline=None)
@given(rows=st.integers(1, 60), chunk_rows=st.integers(0, 70))
def test_chunks_give_the_same_table_in_the_same_order(rows, chunk_rows):
    frame = pd.DataFrame({"x": range(rows)}, index=range(100, 100 + rows))
    result = in_chunks(frame, chunk_rows, _double, "work")
    pd.testing.assert_frame_equal(result, _double(frame))


def test_one_progress_line_per_chunk_with_the_time_left(caplog):
    frame = pd.DataFrame({"x": range(10)})
    with caplog.at_level(logging.INFO, logger="madewithml.console.progress"):
        in_chunks(frame, 4, _double, "batch inference")
    lines = [r.getMessage() for r in caplog.records if r.name == "madewithml.console.progress"]
    assert [line.split(",")[0] for line in lines] == [
        "batch inference: 4/10 rows (40 %)",
        "batch inference: 8/10 rows (80 %)",
        "batch inference: 10/10 rows (100 %)",
    ]
    assert all(line.endswith("s left") for line in lines)


def test_a_table_of_one_chunk_is_done_in_one_call_without_a_line(caplog):
    calls = []
    with caplog.at_level(logging.INFO, logger="madewithml.console.progress"):
        in_chunks(pd.DataFrame({"x": range(3)}), 4, lambda f: calls.append(len(f)) or f, "w")
    assert calls == [3]
    assert not [r for r in caplog.records if r.name == "madewithml.console.progress"]


@pytest.mark.parametrize(
    ("setting", "terminal", "shown"),
    [("auto", True, True), ("auto", False, False), (True, False, True), (False, True, False)],
)
def test_auto_shows_the_bar_only_on_a_terminal(monkeypatch, setting, terminal, shown):
    console = type("Console", (), {"isatty": lambda _: terminal})()
    monkeypatch.setattr(progress.sys, "stderr", console)
    assert show_progress_bar(setting) is shown
