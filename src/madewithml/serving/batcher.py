"""Dynamic batching that forms a batch when the model is free: requests wait while one `predict`
runs; when it returns, the next `predict` answers every request waiting then (up to
`max_batch_projects` projects).

Why not Ray Serve's `@serve.batch`: in Ray 2.60 its loop cuts the next batch as soon as the
previous one has started (`max_concurrent_batches` only caps how many run at once), so under
load it queues many batches of the few requests that arrived within `batch_wait_timeout_s`
behind one another: 3.7 requests per batch and half a second of queueing at concurrency 32 on 2
cores (docs/benchmarks.md#serving). Here the batch size follows the load: a request alone is
answered at once, and under load a batch holds what arrived during the previous one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# (the projects of one request, its future)
_Waiting = tuple[list[Any], asyncio.Future]


class Batcher:
    """Answers `submit`ted requests with one call of `predict` per batch, run in a thread of its
    own.

    `predict(rows) -> answers` takes the projects of several requests, in order, and returns
    one answer per project. A request is never split across batches: one with more projects
    than `max_batch_projects` is a batch of its own. When a batch's `predict` fails, each of its
    requests is predicted alone, so that only a request that fails on its own gets an error.
    `wait_s` > 0 holds a batch that many seconds after its first request, for more to join (0:
    none). `on_batch(requests, projects)` is told of every batch.
    """

    def __init__(
        self,
        predict: Callable[[list[Any]], list[Any]],
        max_batch_projects: int,
        wait_s: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.predict, self.max_batch_projects, self.wait_s = predict, max_batch_projects, wait_s
        self.on_batch = on_batch
        self._waiting: deque[_Waiting] = deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        # One thread runs every `predict`: batches run one at a time anyway, and torch keeps
        # its thread pool warm for the thread that calls it.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")

    async def submit(self, rows: list[Any]) -> tuple[list[Any], float, float]:
        """The answers to `rows`, and when their batch's `predict` started and returned
        (`time.perf_counter()`)."""
        loop = asyncio.get_running_loop()
        if self._worker is None:  # on the event loop that serves the requests
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._waiting.append((rows, future))
        self._arrived.set()
        return await future

    def _take(self) -> list[_Waiting]:
        """The oldest waiting request and those behind it, up to `max_batch_projects` projects
        (always the oldest, however many projects it has); requests whose client went away are
        left out."""
        batch, size = [], 0
        while self._waiting:
            rows, future = self._waiting[0]
            if batch and size + len(rows) > self.max_batch_projects:
                break
            self._waiting.popleft()
            if not future.cancelled():
                batch.append((rows, future))
                size += len(rows)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            if self.wait_s > 0:
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            if not batch:
                continue
            rows = [row for projects, _ in batch for row in projects]
            if self.on_batch is not None:
                self.on_batch(len(batch), len(rows))
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self._thread, self.predict, rows)
            except Exception as error:  # noqa: BLE001 - handed to the requests
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                else:  # one bad request must not fail its batch mates: each on its own
                    await self._one_by_one(batch)
                continue
            predicted, start = time.perf_counter(), 0
            for projects, future in batch:
                _settle(future, (answers[start : start + len(projects)], started, predicted))
                start += len(projects)

    async def _one_by_one(self, batch: list[_Waiting]) -> None:
        """Predict each request of a failed batch alone: those that fail alone get their own
        error, the others their answers."""
        loop = asyncio.get_running_loop()
        for projects, future in batch:
            if future.done():
                continue
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self._thread, self.predict, projects)
            except Exception as error:  # noqa: BLE001 - this request's own
                _settle(future, error=error)
            else:
                _settle(future, (answers, started, time.perf_counter()))


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give a request its answer or its error, unless its client went away."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
