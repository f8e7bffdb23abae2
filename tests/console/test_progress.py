"""Long work shows progress: a table in chunks (which changes nothing in the result), and
training batches on a bar."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.console import progress
from madewithml.console.progress import in_chunks, show_progress_bar
from madewithml.training import progress as training_progress
from madewithml.training.progress import BatchProgress


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


class FakeBar:
    """Stands in for Ray's `tqdm_ray.tqdm`: records what the bar was told."""

    made: list[FakeBar] = []

    def __init__(self, total: int, unit: str):
        self.total, self.unit, self.n, self.descriptions, self.closed = total, unit, 0, [], False
        FakeBar.made.append(self)

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, text: str) -> None:
        self.descriptions.append(text)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_bar(monkeypatch):
    FakeBar.made = []
    monkeypatch.setattr(training_progress, "ray_tqdm", FakeBar)
    return FakeBar


def test_the_bar_counts_each_batch_once_the_caller_is_done_with_it(fake_bar):
    with BatchProgress(True, total=6) as bar:
        bar.describe("epoch 1/2")
        counted = []
        for batch in bar.count(["a", "b", "c"]):
            counted.append((batch, fake_bar.made[0].n))  # not yet counted while in use
        bar.describe("epoch 2/2")
        list(bar.count(["d", "e", "f"]))
    (drawn,) = fake_bar.made
    assert counted == [("a", 0), ("b", 1), ("c", 2)]
    assert (drawn.n, drawn.total, drawn.unit) == (6, 6, "batch")
    assert drawn.descriptions == ["epoch 1/2", "epoch 2/2"]
    assert drawn.closed


def test_a_resumed_run_starts_the_bar_at_the_batches_already_done(fake_bar):
    with BatchProgress(True, total=9, done=6) as bar:
        list(bar.count(range(3)))
    assert fake_bar.made[0].n == 9


def test_the_bar_is_closed_when_training_fails(fake_bar):
    with pytest.raises(RuntimeError), BatchProgress(True, total=3) as bar:
        for _ in bar.count(range(3)):
            raise RuntimeError("a worker failed")
    assert fake_bar.made[0].closed


def test_no_bar_when_not_shown(fake_bar):
    with BatchProgress(False, total=3) as bar:
        bar.describe("epoch 1/1")
        assert list(bar.count(range(3))) == [0, 1, 2]
    assert fake_bar.made == []


@pytest.mark.parametrize(
    ("setting", "terminal", "shown"),
    [("auto", True, True), ("auto", False, False), (True, False, True), (False, True, False)],
)
def test_auto_shows_the_bar_only_on_a_terminal(monkeypatch, setting, terminal, shown):
    console = type("Console", (), {"isatty": lambda _: terminal})()
    monkeypatch.setattr(progress.sys, "stderr", console)
    assert show_progress_bar(setting) is shown
