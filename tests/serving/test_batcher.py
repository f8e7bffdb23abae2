"""The batcher forms a batch when the model is free: one request alone is answered at once,
requests that arrive while a `predict` runs share the next one, each gets its own answers, a
batch holds at most `max_batch_projects` projects, and a failure reaches the request that
fails on its own and no other (issue 26: one bad item failed 47 of its 80 batch mates)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.serving.batcher import Batcher


class SlowModel:
    """Answers each row with its double after `seconds`, recording the batches it saw."""

    def __init__(self, seconds: float = 0.05, fail_on: object = None) -> None:
        self.seconds, self.fail_on, self.batches = seconds, fail_on, []
        self.busy = threading.Event()

    def __call__(self, rows: list) -> list:
        self.batches.append(list(rows))
        self.busy.set()
        time.sleep(self.seconds)
        if self.fail_on in rows:
            raise ValueError(f"cannot answer {self.fail_on}")
        return [2 * row for row in rows]


def test_a_request_alone_is_answered_at_once():
    model = SlowModel(seconds=0.0)

    async def go():
        batcher = Batcher(model, max_batch_projects=8)
        began = time.perf_counter()
        answers, started, predicted = await batcher.submit([1, 2])
        return answers, started - began, predicted - started

    answers, waited, predicting = asyncio.run(go())
    assert answers == [2, 4] and model.batches == [[1, 2]]
    assert waited < 0.05 and predicting >= 0


def test_requests_that_arrive_while_a_predict_runs_share_the_next_one():
    model = SlowModel(seconds=0.1)

    async def go():
        batcher = Batcher(model, max_batch_projects=100)
        first = asyncio.create_task(batcher.submit([0]))
        await asyncio.to_thread(model.busy.wait)  # the first predict is running
        rest = [asyncio.create_task(batcher.submit([i, i + 100])) for i in range(1, 31)]
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(go())
    assert [len(batch) for batch in model.batches] == [1, 60]  # all 30 in the second batch
    assert first[0] == [0]
    assert [answers for answers, _, _ in rest] == [[2 * i, 2 * i + 200] for i in range(1, 31)]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=25),
    limit=st.integers(1, 20),
)
def test_every_request_gets_its_own_answers_and_batches_respect_the_limit(sizes, limit):
    model = SlowModel(seconds=0.001)
    requests = []
    for size in sizes:
        start = sum(len(r) for r in requests)
        requests.append(list(range(start, start + size)))

    async def go():
        batcher = Batcher(model, max_batch_projects=limit)
        return await asyncio.gather(*(batcher.submit(rows) for rows in requests))

    results = asyncio.run(go())
    assert [answers for answers, _, _ in results] == [[2 * x for x in rows] for rows in requests]
    # a batch is whole requests in arrival order: over the limit only when it is one request
    assert [row for batch in model.batches for row in batch] == [x for r in requests for x in r]
    for batch in model.batches:
        assert len(batch) <= limit or any(batch == rows for rows in requests)


def test_a_failed_predict_fails_the_request_that_fails_alone_and_no_other():
    model = SlowModel(seconds=0.05, fail_on=13)

    async def go():
        batcher = Batcher(model, max_batch_projects=100)
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.to_thread(model.busy.wait)
        bad = asyncio.create_task(batcher.submit([13]))
        mate = asyncio.create_task(batcher.submit([14]))
        results = await asyncio.gather(first, bad, mate, return_exceptions=True)
        after = await batcher.submit([5])  # the batcher goes on
        return results, after

    (first, bad, mate), after = asyncio.run(go())
    assert first[0] == [2]
    assert isinstance(bad, ValueError) and mate[0] == [28]
    assert [13, 14] in model.batches  # they did share a batch, which failed
    assert after[0] == [10]


@settings(max_examples=40, deadline=None)
@given(
    requests=st.lists(
        st.lists(st.integers(0, 20), min_size=1, max_size=4), min_size=2, max_size=12
    ),
    limit=st.integers(1, 16),
)
def test_only_the_requests_that_fail_alone_fail(requests, limit):
    """Any requests, any batch limit, any of them holding the row the model cannot answer: a
    request gets an error exactly when it holds that row; the others their own answers."""
    model = SlowModel(seconds=0.0, fail_on=13)

    async def go():
        batcher = Batcher(model, max_batch_projects=limit)
        tasks = [asyncio.create_task(batcher.submit(rows)) for rows in requests]
        return await asyncio.gather(*tasks, return_exceptions=True)

    for rows, result in zip(requests, asyncio.run(go()), strict=True):
        if 13 in rows:
            assert isinstance(result, ValueError)
        else:
            assert result[0] == [2 * row for row in rows]


def test_batches_are_told_of():
    told = []
    model = SlowModel(seconds=0.0)

    async def go():
        batcher = Batcher(
            model, 10, on_batch=lambda requests, projects: told.append((requests, projects))
        )
        await batcher.submit([1, 2, 3])

    asyncio.run(go())
    assert told == [(1, 3)]


@pytest.mark.parametrize("wait_s", [0.0, 0.05])
def test_a_wait_holds_the_batch_for_more_requests(wait_s):
    model = SlowModel(seconds=0.0)

    async def go():
        batcher = Batcher(model, 10, wait_s=wait_s)
        first = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(batcher.submit([2]))
        await asyncio.gather(first, second)

    asyncio.run(go())
    assert model.batches == ([[1], [2]] if wait_s == 0 else [[1, 2]])
