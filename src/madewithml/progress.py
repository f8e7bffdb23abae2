"""Progress of long work: a table predicted chunk by chunk, with one log line per chunk (rows
done, share, time so far and time left); training batches counted on a progress bar."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import pandas as pd
from ray.experimental.tqdm_ray import tqdm as ray_tqdm

logger = logging.getLogger(__name__)


def in_chunks(
    frame: pd.DataFrame,
    chunk_rows: int,
    work: Callable[[pd.DataFrame], pd.DataFrame],
    label: str,
) -> pd.DataFrame:
    """`work` over `frame` in chunks of `chunk_rows` rows, concatenated in order; a table of one
    chunk or less (or `chunk_rows` 0) is done in one call, without a progress line."""
    total = len(frame)
    if chunk_rows <= 0 or total <= chunk_rows:
        return work(frame)
    parts, started = [], time.perf_counter()
    for start in range(0, total, chunk_rows):
        parts.append(work(frame.iloc[start : start + chunk_rows]))
        done = min(start + chunk_rows, total)
        elapsed = time.perf_counter() - started
        logger.info(
            "%s: %d/%d rows (%d %%), %.0f s, %.0f s left",
            label,
            done,
            total,
            100 * done // total,
            elapsed,
            elapsed / done * (total - done),
        )
    return pd.concat(parts)


def show_progress_bar(setting: Literal["auto"] | bool) -> bool:
    """Whether to draw progress bars: `auto` when this process's console (stderr, where the
    bars are drawn) is a terminal, so a log file or a pipe gets the per-epoch lines only."""
    if setting == "auto":
        return sys.stderr.isatty()
    return bool(setting)


class BatchProgress:
    """A bar over training batches, on the driver's console although counted in a Ray worker:
    Ray's `tqdm_ray` prints the bar's state to the worker's stdout, and the driver, which
    receives the worker's output (`log_to_driver` in conf/base/ray.yml), draws it. Ray Train's
    print patch must be off (`RAY_TRAIN_ENABLE_PRINT_PATCH: "0"` in the job's runtime_env), or
    the state arrives twice.

    Use as a context manager, so that the bar is closed when training fails too. Disabled
    (`show` false), it counts nothing and draws nothing.
    """

    def __init__(self, show: bool, total: int, done: int = 0, unit: str = "batch"):
        self._bar: Any = None
        if show:
            self._bar = ray_tqdm(total=total, unit=unit)
            if done:
                self._bar.update(done)  # resumed from a checkpoint: those batches are done

    def describe(self, text: str) -> None:
        """The text in front of the bar (e.g. the epoch)."""
        if self._bar is not None:
            self._bar.set_description(text)

    def count(self, batches: Iterable[Any]) -> Iterator[Any]:
        """`batches`, each counted once the caller has done with it (asks for the next)."""
        for batch in batches:
            yield batch
            if self._bar is not None:
                self._bar.update(1)

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
