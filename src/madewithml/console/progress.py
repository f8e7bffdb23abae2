"""Progress of long work on the console: a table predicted chunk by chunk, with one log line per
chunk (rows done, share, time so far and time left), and whether a progress bar is drawn."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Literal

import pandas as pd

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


def console_logger() -> logging.Logger:
    """This module's logger, printing bare lines on stderr even where no logging is set up (a
    Ray Train worker, whose stderr reaches the `kedro run` console): the train loop's epoch
    lines."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def show_progress_bar(setting: Literal["auto"] | bool) -> bool:
    """Whether to draw progress bars: `auto` when this process's console (stderr, where the
    bars are drawn) is a terminal, so a log file or a pipe gets the per-epoch lines only."""
    if setting == "auto":
        return sys.stderr.isatty()
    return bool(setting)
