"""`kedro run --pipelines=monitoring` on a request log as `kedro serve` writes it: the feedback
queue lands where the catalog says, in the raw dataset's columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from kedro_project import copy_project, kedro

from madewithml.monitoring.request_log import RequestLogWriter, answer_rows

TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")


def test_monitoring_writes_the_feedback_queue_from_the_request_log(tmp_path):
    project = copy_project(tmp_path / "project")
    writer = RequestLogWriter(
        str(project / "data/01_raw/requests"),
        "replica",
        flush_interval_s=0.05,
        flush_rows=1000,
        max_buffered_rows=1000,
    )
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    answers = [  # (title, prediction, top probability, days ago)
        ("Old and unsure", "other", 0.3, 30),  # outside the 7-day window
        ("Unsure", "mlops", 0.45, 1),
        ("Other", "other", 0.7, 0),
        ("Sure", "computer-vision", 0.9, 0),
    ]
    for n, (title, tag, top, days_ago) in enumerate(answers):
        rest = (1 - top) / 3
        writer.add(
            answer_rows(
                when=now - timedelta(days=days_ago),
                request_id=f"r{n}",
                projects=[{"title": title, "description": "=cmd|' /C calc'!A0"}],
                predictions=[
                    {
                        "prediction": tag,
                        "probabilities": {t: top if t == tag else rest for t in TAGS},
                    }
                ],
                model={"model_name": "m", "model_version": "1", "run_id": "r", "replica": "a"},
                latency_ms=5.0,
                store_text=True,
            )
        )
    writer.close()
    result = kedro(project, "run", "--pipelines=monitoring", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    queue = pd.read_csv(project / "data/08_reporting/feedback_queue.csv", keep_default_na=False)
    assert list(queue.columns) == ["id", "created_on", "title", "description", "tag"]
    assert list(queue["title"]) == ["Unsure", "Other"]  # least sure first, in the window
    assert set(queue["tag"]) == {""}
    # a text that a spreadsheet would run as a formula is written with a ' before it
    assert set(queue["description"]) == {"'=cmd|' /C calc'!A0"}
