"""The bar over training batches, counted in a Ray worker (Ray's `tqdm_ray` faked)."""

from __future__ import annotations

import pytest

from madewithml.training import progress as training_progress
from madewithml.training.progress import BatchProgress


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
