"""One prediction path: after `kedro run` on the real data, every way to ask the champion for an
answer on the holdout gives the same answers as the logged model's own `predict` in this
process: evaluation, batch inference, `kedro predict`, the HTTP service and `mlflow models
serve`."""

from __future__ import annotations

import json
import os

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from factories import free_port
from kedro_project import kedro
from servers import start, stop, wait_for

from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.evaluation.metrics import weighted_scores

pytestmark = [pytest.mark.real_data, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def champion(real_default_run):
    """(tracking URI, pinned URI, the champion loaded here)."""
    report = json.loads((real_default_run / "data/08_reporting/evaluation.json").read_text())
    assert report["promotion"]["promote"], "the default run's model is the champion"
    tracking = f"sqlite:///{real_default_run / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    model = mlflow.pyfunc.load_model(report["model"]["model_uri"])
    yield tracking, report["model"]["model_uri"], model
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def holdout(real_data):
    return pd.read_csv(real_data / "holdout.csv")


def _same(answers: pd.DataFrame, expected: pd.DataFrame) -> None:
    tags = [c for c in expected.columns if c != "prediction"]
    assert answers["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(answers[tags].to_numpy(float), expected[tags].to_numpy(), atol=1e-6)


@pytest.fixture(scope="module")
def served_f1(real_default_run, holdout):
    """The evaluation report's served holdout F1, and a function scoring answers the same way."""
    report = json.loads((real_default_run / "data/08_reporting/evaluation.json").read_text())

    def f1(answers: pd.DataFrame) -> float:
        return weighted_scores(holdout["tag"].tolist(), answers["prediction"].tolist())["f1"]

    return report["overall"]["f1"], f1


def test_evaluation_scored_the_models_own_answers(real_default_run, champion, holdout, served_f1):
    _, _, model = champion
    scored = pd.read_csv(real_default_run / "data/07_model_output/holdout_predictions.csv")
    expected = model.predict(holdout[["title", "description"]])  # its own threshold
    assert scored["id"].tolist() == holdout["id"].tolist()
    _same(scored.drop(columns="most_likely"), expected)
    undone = model.predict(holdout[["title", "description"]], params={THRESHOLD_PARAM: 0.0})
    assert scored["most_likely"].tolist() == undone["prediction"].tolist()
    reported, f1 = served_f1
    assert f1(scored) == pytest.approx(reported)


def test_batch_inference_answers_as_the_model(
    real_default_run, real_data, champion, holdout, served_f1
):
    _, _, model = champion
    output = real_default_run / "data/07_model_output/holdout_batch.csv"
    result = kedro(
        real_default_run,
        "run",
        "--pipelines=inference",
        f"--params=inference.input={real_data / 'holdout.csv'},inference.output={output}",
        data_dir=real_data,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    batch = pd.read_csv(output)
    pd.testing.assert_frame_equal(batch[holdout.columns], holdout)  # input columns kept
    _same(batch, model.predict(holdout[["title", "description"]]))  # its own threshold
    reported, f1 = served_f1
    assert f1(batch) == pytest.approx(reported)  # the report scored what batch inference answers


def test_kedro_predict_answers_as_the_model(real_default_run, real_data, champion, holdout):
    _, _, model = champion
    for _, row in holdout.iloc[[0, 57]].iterrows():
        result = kedro(
            real_default_run,
            *["predict", "--title", row["title"], "--description", row["description"]],
            data_dir=real_data,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        answer = json.loads(result.stdout)
        expected = model.predict(row[["title", "description"]].to_frame().T).iloc[0]
        assert answer["prediction"] == expected["prediction"]
        assert answer["probabilities"] == pytest.approx(
            expected.drop("prediction").to_dict(), abs=1e-6
        )


def test_the_http_service_answers_as_the_model(ray_session, champion, holdout, served_f1):
    from ray import serve  # noqa: PLC0415

    from madewithml.serving.app import start_service  # noqa: PLC0415

    tracking, model_uri, model = champion
    serving = {
        "limits": {"max_body_bytes": 1_048_576, "max_items": 256, "max_text_chars": 10_000},
        "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.01},
        "deployment": {
            "num_replicas": 1,
            "max_ongoing_requests": 64,
            "ray_actor_options": {"num_cpus": 0},
            "logging_config": {"log_level": "WARNING", "enable_access_log": False},
        },
        "request_log": False,
    }
    serve.shutdown()
    config = {**serving, "model_uri": model_uri, "tracking_uri": tracking, "threshold": None}
    url = start_service(config, host="127.0.0.1", port=free_port())
    try:
        projects = holdout[["title", "description"]]
        body = projects.to_dict(orient="records")
        answers = httpx.post(url + "/predict", json=body, timeout=300)
        assert answers.status_code == 200, answers.text
        flat = pd.DataFrame(
            [{"prediction": a["prediction"], **a["probabilities"]} for a in answers.json()]
        )
        _same(flat, model.predict(projects))
        reported, f1 = served_f1
        assert f1(flat) == pytest.approx(reported)
        labelled = holdout[["title", "description", "tag"]].to_dict(orient="records")
        evaluated = httpx.post(url + "/evaluate", json=labelled, timeout=300).json()
        from madewithml.evaluation.scoring import evaluate  # noqa: PLC0415

        # the same scores as the evaluation's functions give here (tags, not floats, decide them)
        assert evaluated == json.loads(json.dumps(evaluate(model, holdout, "other")))
    finally:
        serve.shutdown()


def test_mlflow_models_serve_answers_as_the_model(real_default_run, champion, holdout, served_f1):
    tracking, model_uri, model = champion
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    command = ["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    process = start([*command, "-h", "127.0.0.1", "-p", str(port)], real_default_run.parent, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/ping", process)
        split = json.loads(holdout[["title", "description"]].to_json(orient="split", index=False))
        response = httpx.post(url + "/invocations", json={"dataframe_split": split}, timeout=300)
        assert response.status_code == 200, response.text
        served = pd.DataFrame(response.json()["predictions"])
        _same(served, model.predict(holdout[["title", "description"]]))
        reported, f1 = served_f1
        assert f1(served) == pytest.approx(reported)
    finally:
        stop(process)
