"""The request log: what the service answered, one row per project, in Parquet files under one
folder (any fsspec URL: a local path, or storage every node of a Ray cluster reaches),
partitioned by the day of the answer (`date=YYYY-MM-DD/`).

Each replica writes its own files (`<writer>-<token>-<seq>.parquet`): no locks between replicas.
A request only appends its rows to a bounded buffer; a background thread writes them in batches,
each file whole or not at all (written under a hidden name, then renamed). A write that fails is
logged and its rows are kept for the next one, while the buffer has room: past
`max_buffered_rows` new rows are dropped and counted, so the service's memory stays bounded and
no request ever waits for, or fails on, the log. `close()` writes what is buffered (a replica
shutting down: SIGTERM to `kedro serve`).

Read back by `madewithml.datasets.RequestLogDataset` (the catalog's `request_log`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

# One row per project answered. `item`: the project's place in its request (a request may hold
# several); `title` and `description` are null when the text is not stored, `text_sha256`
# always there (the same text, the same digest: duplicates can be found without the text).
SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("item", pa.int32()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("run_id", pa.string()),
        ("replica", pa.string()),
        ("prediction", pa.string()),
        ("top_probability", pa.float64()),
        ("probabilities", pa.map_(pa.string(), pa.float64())),
        ("latency_ms", pa.float64()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("text_sha256", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
PARTITION = "date"  # the folder of a day's files: date=YYYY-MM-DD


def text_sha256(title: str, description: str) -> str:
    """The digest of a project's text (title and description, unambiguously joined)."""
    return hashlib.sha256(json.dumps([title, description]).encode("utf-8")).hexdigest()


def answer_rows(
    *,
    when: datetime,
    request_id: str,
    projects: list[dict[str, str]],
    predictions: list[dict[str, Any]],
    model: dict[str, str],
    latency_ms: float,
    store_text: bool,
) -> list[dict[str, Any]]:
    """The log's rows for one answered request: one per project, with its prediction (as the
    service answered it: `prediction`, `probabilities`) and `model` (`model_name`,
    `model_version`, `run_id`, `replica`)."""
    return [
        {
            "time": when,
            "request_id": request_id,
            "item": item,
            **model,
            "prediction": answer["prediction"],
            "top_probability": max(answer["probabilities"].values()),
            "probabilities": answer["probabilities"],
            "latency_ms": latency_ms,
            "title": project["title"] if store_text else None,
            "description": project["description"] if store_text else None,
            "text_sha256": text_sha256(project["title"], project["description"]),
        }
        for item, (project, answer) in enumerate(zip(projects, predictions, strict=True))
    ]


class RequestLogWriter:
    """A replica's writer of the request log (module docstring): `add` rows, `close` at the
    end. `stats`: rows written and dropped, files written, writes failed. When the buffer is
    full the newest rows are the ones dropped."""

    def __init__(
        self,
        url: str,
        writer: str,
        *,
        flush_interval_s: float,
        flush_rows: int,
        max_buffered_rows: int,
    ) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        # The file names of this writer: its name (the replica), a token of this process's
        # writer (a replica restarted under the same name never overwrites), a sequence.
        self._prefix = f"{writer}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0
        self._flush_interval_s = flush_interval_s
        self._flush_rows = flush_rows
        self._max_buffered_rows = max_buffered_rows
        self._rows: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self.stats = {"rows_written": 0, "rows_dropped": 0, "files": 0, "failed_writes": 0}
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Buffer `rows` for the next write (what does not fit in the buffer is dropped and
        counted). Never raises, never waits for the disk."""
        with self._lock:
            room = self._max_buffered_rows - len(self._rows)
            if len(rows) > room:
                self.stats["rows_dropped"] += len(rows) - max(room, 0)
                rows = rows[: max(room, 0)]
            self._rows.extend(rows)
            if len(self._rows) >= self._flush_rows:
                self._wake.set()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is buffered and stop the thread (once; later calls do nothing). Rows
        that storage still refuses then are lost, and their number logged. The wait is
        bounded, below Ray Serve's graceful shutdown of a replica (20 s)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout_s)
        with self._lock:
            lost = len(self._rows)
        if lost:
            self.stats["rows_dropped"] += lost
            logger.error("request log: %d rows not written to %s at shutdown", lost, self.url)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            if not self._flush():  # storage failing: wait a whole interval (or close)
                self._closed.wait(self._flush_interval_s)
        self._flush()  # what was added while the last write in the loop ran

    def _flush(self) -> bool:
        """Write the buffered rows, in files of at most `flush_rows` rows of one day each; rows
        of a failed write go back to the front of the buffer for the next one (the newest rows
        beyond the bound dropped). False when a write failed. Never raises: the thread lives
        as long as the writer."""
        try:
            with self._lock:
                rows, self._rows = list(self._rows), deque()
            if not rows:
                return True
            failed: list[dict[str, Any]] = []
            for day, chunk in self._chunks(rows):
                table, fitting = self._table(chunk)
                if table is None:
                    continue
                try:
                    self._write(day, table)
                except Exception as error:  # noqa: BLE001 - any failure of storage: logged, kept
                    self.stats["failed_writes"] += 1
                    failed += fitting
                    logger.warning(
                        "request log: writing %d rows to %s failed (%s: %s); kept for the next "
                        "write while the buffer has room",
                        len(fitting),
                        self.url,
                        type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "",
                    )
                else:
                    self.stats["rows_written"] += table.num_rows
                    self.stats["files"] += 1
            if failed:
                with self._lock:
                    self._rows.extendleft(reversed(failed))
                    while len(self._rows) > self._max_buffered_rows:  # the newest go
                        self._rows.pop()
                        self.stats["rows_dropped"] += 1
            return not failed
        except Exception:  # a bug here must not stop the log for good: logged, the rows lost
            logger.exception("request log: a write to %s failed unexpectedly", self.url)
            return False

    def _chunks(self, rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
        """(day, rows) of at most `flush_rows` rows, in the order the rows came."""
        days: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            days.setdefault(row["time"].astimezone(UTC).date().isoformat(), []).append(row)
        size = self._flush_rows
        return [
            (day, day_rows[start : start + size])
            for day, day_rows in days.items()
            for start in range(0, len(day_rows), size)
        ]

    def _table(self, rows: list[dict[str, Any]]) -> tuple[pa.Table | None, list[dict[str, Any]]]:
        """`rows` as an Arrow table, and the rows in it; a row that does not fit the schema is
        dropped and counted (retrying it could never succeed)."""
        try:
            return pa.Table.from_pylist(rows, schema=SCHEMA), rows
        except (pa.ArrowException, TypeError, ValueError):
            kept = []
            for row in rows:
                try:
                    pa.Table.from_pylist([row], schema=SCHEMA)
                except (pa.ArrowException, TypeError, ValueError) as error:
                    self.stats["rows_dropped"] += 1
                    logger.error("request log: a row does not fit the log's schema: %s", error)
                else:
                    kept.append(row)
            return (pa.Table.from_pylist(kept, schema=SCHEMA) if kept else None), kept

    def _write(self, day: str, table: pa.Table) -> None:
        """One Parquet file of `table` in the folder of `day`, whole or not at all."""
        folder = f"{self.root.rstrip('/')}/{PARTITION}={day}"
        name = f"{self._prefix}-{self._sequence:06d}.parquet"
        self._sequence += 1
        hidden = f"{folder}/.{name}.writing"
        self.fs.makedirs(folder, exist_ok=True)
        try:
            with self.fs.open(hidden, "wb") as file:
                pq.write_table(table, file)
            self.fs.mv(hidden, f"{folder}/{name}")
        except BaseException:
            with contextlib.suppress(Exception):  # the storage may be what failed
                self.fs.rm(hidden)
            raise


def now() -> datetime:
    """The time of an answer, in UTC."""
    return datetime.now(UTC)
