"""The logged model refuses what it cannot answer with an error MLflow's own server turns into a
400 with a one-line message (issue 26: `mlflow models serve` answered `other` with 200 to a
threshold of 2, NaN or -5, and its error bodies carried a traceback with install paths)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from mlflow.pyfunc import scoring_server

PROJECT = {"title": "GAN faces", "description": "image synthesis"}


@pytest.fixture(scope="module")
def mlflow_server(tiny_logged_model):
    """`mlflow models serve`'s application, in process, over the tiny logged model."""
    _, model = tiny_logged_model
    return TestClient(scoring_server.init(model))


def _invoke(server, body: str):
    return server.post("/invocations", content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("threshold", ["2", "-5", "NaN", "Infinity"])
def test_a_threshold_outside_0_1_is_a_400_naming_it(mlflow_server, threshold):
    records = json.dumps([PROJECT])
    body = f'{{"dataframe_records": {records}, "params": {{"inference.threshold": {threshold}}}}}'
    answer = _invoke(mlflow_server, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert "threshold must be a number in [0, 1]" in error["message"]
    assert "stack_trace" not in error and "site-packages" not in answer.text


def test_a_stale_answer_in_the_input_never_reaches_the_answer(mlflow_server):
    """MLflow keeps only the signature's columns (title, description) before `predict`: a
    `prediction` column sent along cannot shadow the model's own (the tagger refuses it where
    it gets one: tests/core/test_tagger.py)."""
    clean = _invoke(mlflow_server, json.dumps({"dataframe_records": [PROJECT]}))
    stale = {**PROJECT, "prediction": "stale", "mlops": 1.0}
    answer = _invoke(mlflow_server, json.dumps({"dataframe_records": [stale]}))
    assert answer.status_code == 200, answer.text
    assert answer.json() == clean.json()


def test_a_valid_threshold_is_applied(mlflow_server):
    body = json.dumps({"dataframe_records": [PROJECT], "params": {"inference.threshold": 1.0}})
    answer = _invoke(mlflow_server, body)
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["predictions"]
    assert row["prediction"] == "other"  # no tag reaches a probability of 1 in the tiny model


def test_a_failure_of_the_model_is_a_500_in_one_line_with_the_traceback_in_the_log(
    tiny_logged_model, monkeypatch, caplog
):
    """Any other error of `predict` (here one whose message holds an install path) reaches the
    client as one line, never its traceback; the server's log keeps it."""
    _, model = tiny_logged_model
    tagger = model.unwrap_python_model().tagger

    def fails(*args, **kwargs):
        raise RuntimeError("out of memory in /opt/venv/lib/site-packages/torch/nn/functional.py")

    monkeypatch.setattr(tagger, "predict", fails)
    answer = _invoke(
        TestClient(scoring_server.init(model)), json.dumps({"dataframe_records": [PROJECT]})
    )
    assert answer.status_code == 500, answer.text
    assert "the model failed to answer (RuntimeError)" in answer.json()["message"]
    assert "stack_trace" not in answer.json() and "site-packages" not in answer.text
    assert "site-packages" in caplog.text  # the traceback, in the server's log
