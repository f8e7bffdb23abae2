"""`kedro predict`, `kedro serve` and `mlflow models serve`, as a user runs them."""

from __future__ import annotations

import json
import os
import re

import httpx
import mlflow
import pandas as pd
import pytest
from factories import free_port
from kedro_project import kedro
from project_copy import kedro_env
from servers import alive, listening_addresses, ray_processes, start, stop, wait_for, wait_for_line

from madewithml.core.pyfunc import THRESHOLD_PARAM

TITLE, DESCRIPTION = "Transformers for text", "A language model for search."
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def pyfunc(tiny_model):
    tracking, model_uri = tiny_model
    mlflow.set_tracking_uri(tracking)
    return mlflow.pyfunc.load_model(model_uri)


def expected(pyfunc, threshold):
    """The logged model's answer in process: at its own threshold, or `threshold`."""
    frame = pd.DataFrame([{"title": TITLE, "description": DESCRIPTION}])
    params = None if threshold is None else {THRESHOLD_PARAM: threshold}
    row = pyfunc.predict(frame, params=params).iloc[0]
    return row["prediction"], row.drop("prediction").to_dict()


@pytest.mark.parametrize("threshold", [None, 0.0])
def test_kedro_predict_prints_the_champions_answer_as_json(
    tiny_champion_project, pyfunc, threshold
):
    args = ["predict", "--title", TITLE, "--description", DESCRIPTION]
    if threshold is not None:
        args += ["--threshold", str(threshold)]
    result = kedro(tiny_champion_project, *args, data_dir=tiny_champion_project)
    assert result.returncode == 0, result.stderr[-4000:]
    answer = json.loads(result.stdout)  # nothing else on stdout
    prediction, probabilities = expected(pyfunc, threshold)
    assert answer["prediction"] == prediction
    assert answer["probabilities"] == pytest.approx(probabilities, abs=1e-6)


def test_kedro_predict_with_a_missing_model_names_it(tiny_champion_project):
    result = kedro(
        tiny_champion_project,
        *["predict", "--title", TITLE, "--description", DESCRIPTION],
        "--model-uri=models:/madewithml-tagger/99",
        data_dir=tiny_champion_project,
    )
    assert result.returncode != 0
    assert "models:/madewithml-tagger/99" in result.stdout + result.stderr


def test_kedro_serve_serves_the_champion_on_loopback_with_the_shipped_limits_until_stopped(
    tiny_champion_project, pyfunc
):
    port = free_port()
    # Its own Ray, as a user's `kedro serve` starts one (conf/base/ray.yml), and conf/base's
    # serving.yml: the shipped host (loopback) and limits.
    env = kedro_env(tiny_champion_project, tiny_champion_project)
    env.pop("RAY_ADDRESS", None)
    before = ray_processes()
    access_log = tiny_champion_project / "logs/access.log"
    logged = len(access_log.read_text()) if access_log.exists() else 0  # other tests' lines
    process = start(
        ["kedro", "serve", "--port", str(port), "--threshold", "0.0"], tiny_champion_project, env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_line(process, f"serving models:/madewithml-tagger/1 at {url}", timeout=240)
        wait_for(url + "/", process)
        assert listening_addresses(port) == {"127.0.0.1"}  # the socket really bound, loopback
        assert httpx.get(url + "/run_id").json() == {"run_id": pyfunc.metadata.run_id}
        answer = httpx.post(url + "/predict", json={"title": TITLE, "description": DESCRIPTION})
        prediction, probabilities = expected(pyfunc, 0.0)
        assert answer.json()["prediction"] == prediction
        assert answer.json()["probabilities"] == pytest.approx(probabilities, abs=1e-6)
        # the limits of conf/base/serving.yml: 256 projects, 10,000 characters, 1 MiB
        project = {"title": TITLE, "description": DESCRIPTION}
        assert httpx.post(url + "/predict", json=[project] * 256, timeout=120).status_code == 200
        assert httpx.post(url + "/predict", json=[project] * 257).status_code == 413
        long = {"title": TITLE, "description": "x" * 10_001}
        assert (
            httpx.post(url + "/predict", json={**long, "description": "x" * 10_000}).status_code
            == 200
        )
        assert httpx.post(url + "/predict", json=long).status_code == 422
        huge = [{"title": TITLE, "description": "y" * 9_000}] * 120  # ~1.08 MB
        assert httpx.post(url + "/predict", json=huge).status_code == 413
    finally:
        output = stop(process)
    assert "stopping" in output
    assert process.returncode == 0, output[-4000:]
    assert not alive(ray_processes() - before)  # its own Ray went with it
    # one line per request (serving.access_log), in its file and not on the console: method,
    # path, status, latency, projects
    assert f"one line per request in {tiny_champion_project / 'logs/access.log'}" in output
    assert "POST /predict" not in output
    log = access_log.read_text()[logged:]
    posts = re.findall(r"POST /predict (\d{3}) [\d.]+ ms projects=(\S+)", log)
    assert posts == [
        ("200", "1"),
        ("200", "256"),
        ("413", "257"),
        ("200", "1"),
        ("422", "1"),
        ("413", "-"),
    ], output[-4000:]
    assert "Running node" not in output


def test_kedro_serve_takes_a_model_uri_and_a_host(tiny_champion_project):
    port = free_port()
    env = kedro_env(tiny_champion_project, tiny_champion_project)
    env.pop("RAY_ADDRESS", None)
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    second = client.get_model_version("madewithml-tagger", "2")
    model_uri = f"runs:/{second.run_id}/model"
    command = ["kedro", "serve", "--port", str(port), "--host", "127.0.0.2"]
    process = start([*command, "--model-uri", model_uri], tiny_champion_project, env)
    url = f"http://127.0.0.2:{port}"
    try:
        wait_for_line(process, f"serving {model_uri} at {url}", timeout=240)
        wait_for(url + "/", process)
        assert listening_addresses(port) == {"127.0.0.2"}
        health = httpx.get(url + "/").json()
        assert health["model_uri"] == model_uri and health["run_id"] == second.run_id
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/")
    finally:
        output = stop(process)
    assert process.returncode == 0, output[-4000:]


def test_kedro_serve_on_a_joined_ray_removes_only_its_own_application(
    tiny_champion_project, tiny_model, ray_session
):
    from ray import serve  # noqa: PLC0415

    from madewithml.serving.app import build_app  # noqa: PLC0415

    tracking, model_uri = tiny_model
    port = free_port()
    serve.shutdown()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    other = build_app(
        {
            "model_uri": model_uri,
            "tracking_uri": tracking,
            "limits": {
                "max_body_bytes": 10_000,
                "max_items": 4,
                "max_text_chars": 100,
                "max_request_chars": 300,
            },
            "batching": {"max_batch_projects": 4, "wait_s": 0.0},
            "deployment": {"ray_actor_options": {"num_cpus": 0}},
            "access_log": None,
        }
    )
    serve.run(other, name="other", route_prefix="/other", blocking=False)
    env = kedro_env(tiny_champion_project, tiny_champion_project)
    env["RAY_ADDRESS"] = ray_session.get_runtime_context().gcs_address
    process = start(["kedro", "serve", "--port", str(port)], tiny_champion_project, env)
    try:
        wait_for_line(process, "serving models:/madewithml-tagger/1", timeout=240)
        wait_for(f"http://127.0.0.1:{port}/", process)
        assert set(serve.status().applications) == {"other", "madewithml"}
    finally:
        output = stop(process)
    try:
        assert process.returncode == 0, output[-4000:]
        assert set(serve.status().applications) == {"other"}  # ours gone, theirs still there
        assert httpx.get(f"http://127.0.0.1:{port}/other/").status_code == 200
        assert ray_session.is_initialized()
    finally:
        serve.shutdown()


def test_mlflow_models_serve_serves_the_same_model(tiny_champion_project, pyfunc):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tiny_champion_project / 'mlflow.db'}"}
    command = ["mlflow", "models", "serve", "-m", "models:/madewithml-tagger@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    # Outside the project: nothing of it is needed at serve time.
    process = start(command, tiny_champion_project.parent, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/ping", process)
        split = {"columns": ["title", "description"], "data": [[TITLE, DESCRIPTION]]}
        for params, threshold in [({}, None), ({"params": {THRESHOLD_PARAM: 0.0}}, 0.0)]:
            response = httpx.post(url + "/invocations", json={"dataframe_split": split, **params})
            assert response.status_code == 200, response.text
            row = response.json()["predictions"][0]
            prediction, probabilities = expected(pyfunc, threshold)
            assert row["prediction"] == prediction
            assert {t: row[t] for t in probabilities} == pytest.approx(probabilities, abs=1e-6)
        missing = httpx.post(
            url + "/invocations",
            json={"dataframe_split": {"columns": ["title"], "data": [[TITLE]]}},
        )
        assert 400 <= missing.status_code < 500
    finally:
        stop(process)
