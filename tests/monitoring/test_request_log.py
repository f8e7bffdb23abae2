"""The request log's writer and reader: every row added is read back as it was, whatever the
text, the batches and the days; storage that fails never fails the caller and loses only what
the bounded buffer cannot hold; files being written are never read."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from madewithml.datasets import RequestLogDataset
from madewithml.monitoring.request_log import COLUMNS, RequestLogWriter, answer_rows, text_sha256

TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")
MODEL = {"model_name": "madewithml-tagger", "model_version": "3", "run_id": "r1", "replica": "a"}
# Text as a request can carry it: any Unicode but lone surrogates (JSON refuses them, 422).
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


def _writer(path, **overrides) -> RequestLogWriter:
    options = {"flush_interval_s": 0.05, "flush_rows": 1000, "max_buffered_rows": 10_000}
    return RequestLogWriter(str(path), "replica-a", **(options | overrides))


def _rows(projects, when, request_id="req", store_text=True):
    predictions = [
        {"prediction": TAGS[i % 4], "probabilities": dict.fromkeys(TAGS, 0.25)}
        for i in range(len(projects))
    ]
    return answer_rows(
        when=when,
        request_id=request_id,
        projects=projects,
        predictions=predictions,
        model=MODEL,
        latency_ms=12.5,
        store_text=store_text,
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    requests=st.lists(
        st.lists(
            st.fixed_dictionaries({"title": TEXT, "description": TEXT}), min_size=1, max_size=4
        ),
        min_size=1,
        max_size=12,
    ),
    day_offsets=st.lists(st.integers(0, 2), min_size=12, max_size=12),
    flush_rows=st.integers(1, 8),
)
def test_every_row_added_is_read_back_as_it_was(
    tmp_path_factory, requests, day_offsets, flush_rows
):
    """Any text, any number of projects per request, answers on up to three days, any write
    size: the log reads back exactly the rows added, oldest first, each in its day's folder."""
    path = tmp_path_factory.mktemp("log") / "requests"
    writer = _writer(path, flush_rows=flush_rows)
    start = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    added = []
    for n, (projects, offset) in enumerate(zip(requests, day_offsets, strict=False)):
        rows = _rows(projects, start + timedelta(days=offset, microseconds=n), f"r{n:03d}")
        writer.add(rows)
        added.extend(rows)
    writer.close()
    assert writer.stats["rows_written"] == len(added) and writer.stats["rows_dropped"] == 0
    read = RequestLogDataset(path=str(path)).load()
    assert list(read.columns) == list(COLUMNS)
    expected = pd.DataFrame(added, columns=list(COLUMNS)).sort_values(
        ["time", "request_id", "item"], kind="stable"
    )
    assert read.to_dict("records") == expected.to_dict("records")
    days = {p.name for p in path.iterdir()}
    assert days == {
        f"date={(start + timedelta(days=d)).date()}" for d in set(day_offsets[: len(requests)])
    }


def test_without_text_only_the_digest_is_kept(tmp_path):
    writer = _writer(tmp_path / "requests")
    writer.add(
        _rows(
            [{"title": "A secret", "description": "Not to keep."}],
            datetime.now(UTC),
            store_text=False,
        )
    )
    writer.close()
    (row,) = RequestLogDataset(path=str(tmp_path / "requests")).load().to_dict("records")
    assert pd.isna(row["title"]) and pd.isna(row["description"])
    assert row["text_sha256"] == text_sha256("A secret", "Not to keep.")
    assert "A secret" not in b"".join(
        p.read_bytes() for p in (tmp_path / "requests").rglob("*.parquet")
    ).decode("latin-1")


def test_the_digest_tells_title_from_description():
    assert text_sha256("a b", "c") != text_sha256("a", "b c")
    assert text_sha256("a", "b") == text_sha256("a", "b")


def test_past_the_buffer_new_rows_are_dropped_and_counted(tmp_path):
    """A log that cannot keep up holds at most max_buffered_rows; the rest are counted."""
    writer = _writer(
        tmp_path / "requests", flush_interval_s=60, flush_rows=10_000, max_buffered_rows=5
    )
    now = datetime.now(UTC)
    for n in range(4):
        writer.add(_rows([{"title": "t", "description": "d"}] * 2, now, f"r{n}"))
    writer.close()
    assert writer.stats == {"rows_written": 5, "rows_dropped": 3, "files": 1, "failed_writes": 0}
    assert len(RequestLogDataset(path=str(tmp_path / "requests")).load()) == 5


def test_storage_that_fails_never_fails_the_caller_and_its_rows_wait(tmp_path, caplog):
    """The log's folder cannot be made (a file is in its way): writes fail, are logged and
    counted, `add` goes on; once the storage is back the rows kept are written. The buffer
    holds 3: of 5 rows added, the 2 newest are dropped, whatever the writer thread does."""
    blocked = tmp_path / "requests"
    blocked.write_text("in the way")
    writer = _writer(blocked, flush_interval_s=0.05, max_buffered_rows=3)
    now = datetime.now(UTC)
    writer.add(
        [row for n in range(5) for row in _rows([{"title": "t", "description": "d"}], now, f"r{n}")]
    )
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while writer.stats["failed_writes"] < 2 and datetime.now(UTC) < deadline:
        pass
    assert writer.stats["failed_writes"] >= 2
    assert "request log: writing" in caplog.text
    blocked.unlink()
    writer.close()
    assert writer.stats["rows_written"] == 3 and writer.stats["rows_dropped"] == 2
    assert list(RequestLogDataset(path=str(blocked)).load()["request_id"]) == ["r0", "r1", "r2"]


def test_rows_still_refused_at_shutdown_are_counted_and_logged(tmp_path, caplog):
    blocked = tmp_path / "requests"
    blocked.write_text("in the way")
    writer = _writer(blocked, flush_interval_s=0.05)
    writer.add(_rows([{"title": "t", "description": "d"}] * 4, datetime.now(UTC)))
    writer.close()
    assert writer.stats["rows_written"] == 0 and writer.stats["rows_dropped"] == 4
    assert "request log: 4 rows not written" in caplog.text


def test_a_row_that_does_not_fit_the_schema_is_dropped_alone(tmp_path, caplog):
    """Retrying it could never succeed: it is counted and logged, the others are written and
    the writer goes on."""
    writer = _writer(tmp_path / "requests")
    now = datetime.now(UTC)
    good = _rows([{"title": "t", "description": "d"}], now, "good")
    bad = _rows([{"title": "t", "description": "d"}], now, "bad")
    bad[0]["probabilities"] = {"mlops": "not a number"}
    writer.add(good + bad)
    writer.add(_rows([{"title": "t", "description": "d"}], now, "later"))
    writer.close()
    assert writer.stats["rows_dropped"] == 1 and writer.stats["rows_written"] == 2
    read = RequestLogDataset(path=str(tmp_path / "requests")).load()
    assert sorted(read["request_id"]) == ["good", "later"]
    assert "does not fit the log's schema" in caplog.text


def test_files_hold_at_most_flush_rows_rows(tmp_path):
    writer = _writer(tmp_path / "requests", flush_interval_s=60, flush_rows=4)
    writer.add(_rows([{"title": "t", "description": "d"}] * 10, datetime.now(UTC)))
    writer.close()
    assert writer.stats["files"] == 3 and writer.stats["rows_written"] == 10


def test_files_being_written_are_not_read_and_no_replica_overwrites_another(tmp_path):
    path = tmp_path / "requests"
    now = datetime.now(UTC)
    writers = [_writer(path), _writer(path)]  # two replicas of the same name, restarted
    for n, writer in enumerate(writers):
        writer.add(_rows([{"title": "t", "description": "d"}], now, f"w{n}"))
        writer.close()
    folder = next(path.iterdir())
    shutil.copy(next(folder.iterdir()), folder / ".half-written.parquet.writing")
    assert sorted(RequestLogDataset(path=str(path)).load()["request_id"]) == ["w0", "w1"]


def test_an_empty_log_reads_as_no_rows_with_the_columns(tmp_path):
    frame = RequestLogDataset(path=str(tmp_path / "never-written")).load()
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_the_log_is_not_written_by_a_pipeline(tmp_path):
    from kedro.io import DatasetError  # noqa: PLC0415

    with pytest.raises(DatasetError, match="written by `kedro serve`"):
        RequestLogDataset(path=str(tmp_path)).save(pd.DataFrame())
