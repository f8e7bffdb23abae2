"""`kedro run --pipeline=training` and `kedro run` end to end on a tiny model: what lands in MLflow.

The tiny encoder and 60 synthetic projects keep this fast; the real data and encoder are covered by
the benchmark (benchmarks/training.py) and the evaluation tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]
MODEL_NAME = "madewithml-tagger"


@pytest.fixture(scope="module")
def trained_project(tiny_trained_project):
    return tiny_trained_project


@pytest.fixture(scope="module")
def client(trained_project):
    project, _ = trained_project
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def _runs(client):
    experiment = client.get_experiment_by_name("madewithml")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_both_runs_succeed(trained_project):
    _, results = trained_project
    for name, result in results.items():
        assert result.returncode == 0, f"{name}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def test_progress_is_printed_per_epoch(trained_project):
    _, results = trained_project
    output = results["training"].stdout + results["training"].stderr
    assert "epoch 1/2" in output and "epoch 2/2" in output
    assert "val_f1" in output


def test_the_run_holds_parameters_metric_history_and_artifacts(trained_project, client):
    runs = _runs(client)
    assert len(runs) == 2
    run = runs[0]
    assert run.data.params["training.num_epochs"] == "2"
    assert run.data.params["training.lr"] == "0.003"
    assert run.data.params["data_processing.remove_stopwords"] == "False"
    for name in ["train_loss", "val_loss", "val_f1", "lr"]:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [0, 1], name
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"checkpoint", "class_to_index.json"} <= artifacts
    checkpoint = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")}
    assert any(path.endswith("model.safetensors") for path in _walk(client, run, "checkpoint"))
    assert checkpoint


def _walk(client, run, path):
    for item in client.list_artifacts(run.info.run_id, path):
        if item.is_dir:
            yield from _walk(client, run, item.path)
        else:
            yield item.path


def test_each_training_pipeline_registers_a_model_version(trained_project, client):
    runs = _runs(client)
    versions = sorted(client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: v.version)
    assert [v.run_id for v in versions] == [r.info.run_id for r in runs]


PREDICT = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
frame = pd.DataFrame({
    "title": ["Transformers for text", "YOLO object detection", "Kubeflow pipelines"],
    "description": ["A language model.", "Real-time images.", "Deploying models."],
})
print(json.dumps(model.predict(frame).to_dict(orient="list")))
"""


def test_registered_pyfunc_model_predicts_raw_text_in_a_fresh_process(trained_project):
    project, _ = trained_project
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PREDICT,
            f"sqlite:///{project / 'mlflow.db'}",
            f"models:/{MODEL_NAME}/1",
        ],
        cwd=project.parent,  # not the project: the model must carry its own code
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    predictions = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(predictions) == ["prediction", *TAGS]
    assert set(predictions["prediction"]) <= set(TAGS)
    for row in range(3):
        assert sum(predictions[tag][row] for tag in TAGS) == pytest.approx(1.0, abs=1e-5)


def test_default_run_evaluates_the_model_it_trained(trained_project, client):
    project, _ = trained_project
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    default_run = _runs(client)[1]
    assert report["model"]["run_id"] == default_run.info.run_id
    assert report["overall"]["num_samples"] == 15  # the synthetic holdout
    assert set(report["per_class"]) == set(TAGS)
    for plot in ["confusion_matrix", "per_class_f1", "training_curves"]:
        assert (project / f"data/08_reporting/{plot}.png").stat().st_size > 0
    metrics = default_run.data.metrics
    assert metrics["evaluation.holdout_f1"] == pytest.approx(report["overall"]["f1"])
    assert metrics["evaluation.baseline_holdout_f1"] == pytest.approx(
        report["baseline"]["overall"]["f1"]
    )
    plots = {a.path for a in client.list_artifacts(default_run.info.run_id, "plots")}
    assert "plots/confusion_matrix.png" in plots


def test_promotion_follows_the_decision(trained_project, client):
    project, _ = trained_project
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    aliases = client.get_registered_model(MODEL_NAME).aliases
    if report["promotion"]["promote"]:
        assert {k: str(v) for k, v in aliases.items()} == {"champion": "2"}  # the default run's
    else:
        assert aliases == {}
    # the rule itself: better than the baseline, and no champion existed before
    assert report["promotion"]["promote"] == (
        report["overall"]["f1"] > report["baseline"]["overall"]["f1"]
    )
