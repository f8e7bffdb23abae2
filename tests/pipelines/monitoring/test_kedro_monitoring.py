"""`kedro run --pipelines=monitoring` on a request log as `kedro serve` writes it, in a project
with a champion: the feedback queue lands where the catalog says, in the raw dataset's columns;
the drift verdict, its figure and its metrics land in data/08_reporting and in MLflow."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import mlflow
import pandas as pd
import pytest
from kedro_project import kedro

from madewithml.monitoring.request_log import RequestLogWriter, answer_rows

TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
MODEL = {"model_name": "madewithml-tagger", "model_version": "1", "run_id": "r", "replica": "a"}


@pytest.fixture
def project(tiny_champion_project, tmp_path):
    """A copy of the tiny project whose champion is version 1, without a request log."""
    copy = tmp_path / "project"
    shutil.copytree(tiny_champion_project, copy, ignore=shutil.ignore_patterns("ray_results"))
    shutil.rmtree(copy / "data/01_raw/requests", ignore_errors=True)
    return copy


def _log(project, answers) -> None:
    """Write `answers` (title, description, prediction, top probability, days ago) to the
    project's request log, as a replica does."""
    writer = RequestLogWriter(
        str(project / "data/01_raw/requests"),
        "replica",
        flush_interval_s=0.05,
        flush_rows=1000,
        max_buffered_rows=1000,
    )
    for n, (title, description, tag, top, days_ago) in enumerate(answers):
        rest = (1 - top) / 3
        writer.add(
            answer_rows(
                when=NOW - timedelta(days=days_ago, seconds=n),
                request_id=f"r{n}",
                projects=[{"title": title, "description": description}],
                predictions=[
                    {
                        "prediction": tag,
                        "probabilities": {t: top if t == tag else rest for t in TAGS},
                    }
                ],
                model=MODEL,
                latency_ms=5.0,
                store_text=True,
            )
        )
    writer.close()


def _monitor(project, tmp_path) -> dict:
    result = kedro(project, "run", "--pipelines=monitoring", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((project / "data/08_reporting/drift.json").read_text())


def test_monitoring_writes_the_feedback_queue_from_the_request_log(project, tmp_path):
    formula = "=cmd|' /C calc'!A0"
    _log(
        project,
        [
            ("Old and unsure", formula, "other", 0.3, 30),  # outside the 7-day window
            ("Unsure", formula, "mlops", 0.45, 1),
            ("Other", formula, "other", 0.7, 0),
            ("Sure", formula, "computer-vision", 0.9, 0),
        ],
    )
    verdict = _monitor(project, tmp_path)
    queue = pd.read_csv(project / "data/08_reporting/feedback_queue.csv", keep_default_na=False)
    assert list(queue.columns) == ["id", "created_on", "title", "description", "tag"]
    assert list(queue["title"]) == ["Unsure", "Other"]  # least sure first, in the window
    assert set(queue["tag"]) == {""}
    # a text that a spreadsheet would run as a formula is written with a ' before it
    assert set(queue["description"]) == {"'=cmd|' /C calc'!A0"}
    # three answers in the window: too few for a verdict, and the report says so
    assert verdict["drift_detected"] is None
    assert verdict["status"] == "too_few_answers"
    assert verdict["window_answers"] == 3
    assert verdict["window"]["model_versions"] == ["1"]


def test_monitoring_reports_drift_to_files_and_mlflow(project, tmp_path):
    val = pd.read_parquet(project / "data/04_feature/val_projects.parquet")
    answers = [  # every answer computer-vision and sure: the answers have drifted
        (row.title, row.description, "computer-vision", 0.99, n % 3)
        for n, row in enumerate(pd.concat([val] * 4).itertuples())
    ]
    verdict = _monitor(project, tmp_path)  # no log at all yet: no verdict, no failure
    assert verdict["window_answers"] == 0
    assert verdict["drift_detected"] is None
    _log(project, answers)
    verdict = _monitor(project, tmp_path)
    assert verdict["status"] == "tested"
    assert verdict["window_answers"] == len(answers)
    assert verdict["drift_detected"] is True
    assert verdict["tests"]["top_probability"]["drift"] is True
    # the texts are the reference's own: their tests see no drift
    assert verdict["tests"]["words"]["p_value"] > 0.5
    assert (project / "data/08_reporting/drift.png").stat().st_size > 10_000
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(search_all_experiments=True, order_by=["start_time DESC"])
        run = runs.iloc[0]
        artifacts = {
            a.path
            for folder in ("monitoring", "plots")
            for a in mlflow.MlflowClient().list_artifacts(run.run_id, folder)
        }
    finally:
        mlflow.set_tracking_uri(None)
    assert run["metrics.drift.drift_detected"] == 1.0
    assert run["metrics.drift.p_value_top_probability"] < 0.01
    assert {"monitoring/drift.json", "plots/drift.png"} <= artifacts
