"""One prediction path and one owner of the threshold: after `kedro run` on the real data, and
with the parameter that chose the threshold edited afterwards, every way to ask the champion
for an answer on the holdout gives the same answers as the logged model's own `predict` in this
process, with its defaults: evaluation, batch inference, `kedro predict`, `kedro serve` and
`mlflow models serve`."""

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


@pytest.fixture(scope="module", autouse=True)
def edited_after_training(real_default_run):
    """conf/local edited after the model was trained: a threshold that would answer `other`
    nearly everywhere. The model owns its threshold: no command may read this one."""
    edited = real_default_run / "conf/local/parameters_edited_after_training.yml"
    edited.write_text("calibration:\n  threshold: 0.99\n")
    yield
    edited.unlink()


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


def test_kedro_serve_answers_as_the_model(
    real_default_run, real_data, ray_session, champion, holdout, served_f1
):
    from kedro_project import kedro_env  # noqa: PLC0415

    from madewithml.evaluation.scoring import evaluate  # noqa: PLC0415

    _, model_uri, model = champion
    port = free_port()
    env = {
        **kedro_env(real_default_run, real_data),
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
    }
    process = start(["kedro", "serve", "--port", str(port)], real_default_run, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/", process, timeout=240)
        health = httpx.get(url + "/").json()
        assert health["model_uri"] == model_uri  # the champion, pinned
        assert health["threshold"] == model.unwrap_python_model().tagger.settings.threshold
        projects = holdout[["title", "description"]]
        answers = httpx.post(url + "/predict", json=projects.to_dict(orient="records"), timeout=300)
        assert answers.status_code == 200, answers.text
        flat = pd.DataFrame(
            [{"prediction": a["prediction"], **a["probabilities"]} for a in answers.json()]
        )
        _same(flat, model.predict(projects))
        reported, f1 = served_f1
        assert f1(flat) == pytest.approx(reported)
        labelled = holdout[["title", "description", "tag"]].to_dict(orient="records")
        evaluated = httpx.post(url + "/evaluate", json=labelled, timeout=300).json()
        # the same scores as the evaluation's functions give here (tags, not floats, decide them)
        assert evaluated == json.loads(json.dumps(evaluate(model, holdout, "other")))
    finally:
        output = stop(process)
    assert process.returncode == 0, output[-4000:]


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
