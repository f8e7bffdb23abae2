"""`kedro predict`, `kedro serve` and `mlflow models serve`, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from factories import free_port
from kedro_project import kedro
from project_copy import kedro_env

from madewithml.prediction import THRESHOLD_PARAM

TITLE, DESCRIPTION = "Transformers for text", "A language model for search."
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def pyfunc(tiny_model):
    tracking, model_uri = tiny_model
    mlflow.set_tracking_uri(tracking)
    return mlflow.pyfunc.load_model(model_uri)


def expected(pyfunc, threshold):
    frame = pd.DataFrame([{"title": TITLE, "description": DESCRIPTION}])
    row = pyfunc.predict(frame, params={THRESHOLD_PARAM: threshold}).iloc[0]
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
    prediction, probabilities = expected(pyfunc, 0.9 if threshold is None else threshold)
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


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("".join(process.lines)[-4000:])
        try:
            if httpx.get(url, timeout=5).status_code in (200, 405):
                return
        except httpx.HTTPError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a command of this environment's bin/ (kedro, mlflow) in the background; its output
    lines collect in `process.lines`."""
    executable = str(Path(sys.executable).with_name(command[0]))
    process = subprocess.Popen(
        [executable, *command[1:]],
        cwd=cwd,
        # As with the virtual environment activated: `mlflow models serve` execs `uvicorn`.
        env={
            **env,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.lines = []
    threading.Thread(target=lambda: process.lines.extend(process.stdout), daemon=True).start()
    return process


def _wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in process.lines):
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"no {text!r} in:\n" + "".join(process.lines)[-4000:])
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    time.sleep(0.5)  # the reader thread drains the pipe
    return "".join(process.lines)


def test_kedro_serve_serves_the_champion_until_stopped(tiny_champion_project, pyfunc):
    port = free_port()
    # Its own Ray, as a user's `kedro serve` starts one (conf/base/ray.yml).
    env = kedro_env(tiny_champion_project, tiny_champion_project)
    env.pop("RAY_ADDRESS", None)
    process = _start(
        ["kedro", "serve", "--port", str(port), "--threshold", "0.0"], tiny_champion_project, env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_line(process, f"serving models:/madewithml-tagger/1 at {url}", timeout=240)
        _wait_for(url + "/", process)
        assert httpx.get(url + "/run_id").json() == {"run_id": pyfunc.metadata.run_id}
        answer = httpx.post(url + "/predict", json={"title": TITLE, "description": DESCRIPTION})
        prediction, probabilities = expected(pyfunc, 0.0)
        assert answer.json()["prediction"] == prediction
        assert answer.json()["probabilities"] == pytest.approx(probabilities, abs=1e-6)
    finally:
        output = _stop(process)
    assert "stopping" in output
    assert process.returncode == 0, output[-4000:]


def test_mlflow_models_serve_serves_the_same_model(tiny_champion_project, pyfunc):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tiny_champion_project / 'mlflow.db'}"}
    command = ["mlflow", "models", "serve", "-m", "models:/madewithml-tagger@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    # Outside the project: nothing of it is needed at serve time.
    process = _start(command, tiny_champion_project.parent, env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/ping", process)
        split = {"columns": ["title", "description"], "data": [[TITLE, DESCRIPTION]]}
        for params, threshold in [({}, 0.9), ({"params": {THRESHOLD_PARAM: 0.0}}, 0.0)]:
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
        _stop(process)


@pytest.mark.real_data
def test_after_kedro_run_the_champion_answers_on_the_real_data(real_default_run, real_data):
    """A fresh project after `kedro run`: the default model is the champion, and the batch
    pipeline and `kedro predict` answer with it."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(tracking_uri=f"sqlite:///{real_default_run / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("madewithml-tagger", "champion")
    output = real_default_run / "data/07_model_output/holdout_batch.csv"
    batch = kedro(
        real_default_run,
        "run",
        "--pipeline=inference",
        f"--params=inference.input={real_data / 'holdout.csv'},inference.output={output}",
        data_dir=real_data,
    )
    assert batch.returncode == 0, batch.stdout[-4000:] + batch.stderr[-4000:]
    predictions = pd.read_csv(output)
    assert len(predictions) == 191
    sure = predictions[predictions["prediction"] != "other"]
    assert (sure["prediction"] == sure["tag"]).mean() > 0.9  # the confident answers are right

    result = kedro(
        real_default_run,
        *["predict", "--title", "Transfer learning with transformers"],
        *["--description", "Using transformers for transfer learning on text classification."],
        "--threshold=0",
        data_dir=real_data,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout)["prediction"] == "natural-language-processing"
    assert (
        champion.run_id
        == json.loads((real_default_run / "data/08_reporting/model_lineage.json").read_text())[
            "run_id"
        ]
    )
