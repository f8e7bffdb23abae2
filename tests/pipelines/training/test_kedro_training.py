"""`kedro run --pipelines=training` and `kedro run` end to end on a tiny model: what reaches MLflow.

The tiny encoder and 60 synthetic projects keep this fast; the real data and encoder are covered by
the benchmark (benchmarks/training.py) and the evaluation tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_a_run_to_a_pipe_has_the_epoch_lines_and_no_bar(trained_project):
    """Not a terminal (`progress_bar: auto`): no bar drawn, and no bar state printed either."""
    _, results = trained_project
    output = results["training"].stdout + results["training"].stderr
    assert "epoch 2/2  train_loss" in output
    assert "%|" not in output and "__ray_tqdm_magic_token__" not in output


def test_the_run_holds_parameters_metric_history_and_the_model_once(trained_project, client):
    runs = _runs(client)
    assert len(runs) == 2
    run = runs[0]
    assert run.data.params["training.num_epochs"] == "2"
    assert run.data.params["training.lr"] == "0.003"
    assert run.data.params["data_processing.remove_stopwords"] == "False"
    for name in ["train_loss", "val_loss", "val_f1", "lr", "epoch_s"]:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [0, 1], name
    # The run's own artifacts are its plots and how the model was calibrated: no checkpoint
    # folder, no loose class_to_index.
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"plots", "calibration.json"}
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/calibration.png", "plots/training_curves.png"} <= plots
    # The model is logged once: one MLflow model of the run, holding the weights once.
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id='{run.info.run_id}'"
    )
    assert len(models) == 1
    stored = Path(models[0].artifact_location)  # the test's store is a local folder
    files = [str(p.relative_to(stored)) for p in stored.rglob("*.safetensors")]
    assert files == ["artifacts/tagger/classifier/model.safetensors"]


def test_the_model_is_stored_once_locally_and_rays_run_folder_is_gone(trained_project):
    project, _ = trained_project
    weights = sorted(
        str(p.relative_to(project / "data")) for p in (project / "data").rglob("*.safetensors")
    )
    assert weights == ["06_models/tagger/artifacts/tagger/classifier/model.safetensors"]
    assert list((project / "data/06_models/ray_results").glob("*")) == []


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
    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

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
    predictions = pd.DataFrame(json.loads(result.stdout.strip().splitlines()[-1]))
    assert list(predictions) == ["prediction", *TAGS]
    # The same answers as the model loaded in this process, where the project is installed.
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/1")
        frame = pd.DataFrame(
            {
                "title": ["Transformers for text", "YOLO object detection", "Kubeflow pipelines"],
                "description": ["A language model.", "Real-time images.", "Deploying models."],
            }
        )
        expected = model.predict(frame)
    finally:
        mlflow.set_tracking_uri(None)
    pd.testing.assert_frame_equal(predictions, expected, atol=1e-6, check_exact=False)


def test_default_run_evaluates_the_version_it_registered(trained_project, client):
    project, _ = trained_project
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    default_run = _runs(client)[1]
    assert report["model"]["model_uri"] == f"models:/{MODEL_NAME}/2"
    assert report["model"]["run_id"] == default_run.info.run_id
    assert report["overall"]["num_samples"] == 15  # the synthetic holdout
    assert set(report["per_class"]) == set(TAGS)
    for plot in ["confusion_matrix", "per_class_f1", "training_curves", "class_balance"]:
        assert (project / f"data/08_reporting/{plot}.png").stat().st_size > 0
    metrics = default_run.data.metrics
    assert metrics["evaluation.holdout_f1"] == pytest.approx(report["overall"]["f1"])
    assert metrics["evaluation.baseline_holdout_f1"] == pytest.approx(
        report["baseline"]["overall"]["f1"]
    )
    plots = {a.path for a in client.list_artifacts(default_run.info.run_id, "plots")}
    assert "plots/confusion_matrix.png" in plots


def test_a_tie_with_the_baseline_is_not_promoted(trained_project, client):
    # 60 separable synthetic projects: the tiny model and the baseline both score F1 1.0.
    project, _ = trained_project
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    assert report["overall"]["f1"] == report["baseline"]["overall"]["f1"] == 1.0
    assert report["promotion"]["promote"] is False
    assert client.get_registered_model(MODEL_NAME).aliases == {}


@pytest.fixture(scope="module")
def evaluations(trained_project, tmp_path_factory):
    """`kedro run --pipelines=evaluation` on its own, three times, in a copy of the project:
    the latest version against a baseline too weak to tie (promoted), then the champion by its
    alias (a tie with itself: kept), then version 1 by its run (not better: kept)."""
    import shutil  # noqa: PLC0415

    from kedro_project import kedro  # noqa: PLC0415

    original, _ = trained_project
    project = tmp_path_factory.mktemp("evaluations") / "project"
    shutil.copytree(original, project, ignore=shutil.ignore_patterns("ray_results"))
    data_dir = original.parent / "raw"
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    first_run = _runs(client)[0].info.run_id
    results = {}
    for name, params in [
        ("latest", "evaluation.baseline.C=1.0e-6"),
        (
            "champion",
            f"evaluation.model_uri=models:/{MODEL_NAME}@champion,evaluation.baseline.C=1.0e-6",
        ),
        ("run", f"evaluation.model_uri=runs:/{first_run}/model,evaluation.baseline.C=1.0e-6"),
    ]:
        result = kedro(
            project, "run", "--pipelines=evaluation", f"--params={params}", data_dir=data_dir
        )
        assert result.returncode == 0, result.stderr[-4000:]
        report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
        results[name] = (
            report,
            {k: str(v) for k, v in client.get_registered_model(MODEL_NAME).aliases.items()},
        )
    return results


def test_evaluation_alone_evaluates_and_promotes_the_latest_version(evaluations):
    report, aliases = evaluations["latest"]
    assert report["model"]["model_uri"] == f"models:/{MODEL_NAME}/2"
    assert report["baseline"]["overall"]["f1"] < report["overall"]["f1"]
    assert report["promotion"]["promote"] is True
    assert aliases == {"champion": "2"}


def test_evaluation_alone_of_the_champion_by_its_alias_is_a_tie(evaluations):
    report, aliases = evaluations["champion"]
    assert report["model"]["model_uri"] == f"models:/{MODEL_NAME}/2"  # the alias, pinned
    assert report["promotion"]["promote"] is False
    assert "does not beat the champion" in report["promotion"]["reason"]
    assert aliases == {"champion": "2"}


def test_evaluation_alone_of_a_run_uri(evaluations):
    report, aliases = evaluations["run"]
    assert report["model"]["model_uri"].startswith("runs:/")
    assert report["overall"]["num_samples"] == 15
    assert report["promotion"]["promote"] is False  # 1.0 does not beat the champion's 1.0
    assert aliases == {"champion": "2"}
