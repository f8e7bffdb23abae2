"""`kedro run --pipelines=inference`: a logged model (the champion by default) over a CSV."""

import mlflow
import pandas as pd
import pytest
from kedro_project import copy_project, kedro, squashed

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]
PROJECTS = pd.DataFrame(
    {
        "id": [10, 11, 12],
        "title": ["Transformers for text", "YOLO object detection", "Kubeflow pipelines"],
        "description": ["A language model.", "Real-time images.", "Deploying models."],
    }
)


@pytest.fixture(scope="module")
def batch(tiny_champion_project, tmp_path_factory):
    """Batch inference of the champion at the default threshold, and at thresholds 0 and 1."""
    folder = tmp_path_factory.mktemp("batch")
    PROJECTS.to_csv(folder / "projects.csv", index=False)
    outputs = {}
    for threshold in (None, 0.0, 1.0):
        output = folder / f"predictions_{threshold}.csv"
        params = f"inference.input={folder / 'projects.csv'},inference.output={output}"
        if threshold is not None:
            params += f",inference.threshold={threshold}"
        result = kedro(
            tiny_champion_project,
            "run",
            "--pipelines=inference",
            f"--params={params}",
            data_dir=folder,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        outputs[threshold] = pd.read_csv(output)
    return outputs


def test_batch_predictions_keep_the_input_and_add_every_probability(batch):
    predictions = batch[None]
    assert list(predictions.columns) == ["id", "title", "description", "prediction", *TAGS]
    assert predictions["id"].tolist() == [10, 11, 12]
    assert predictions[TAGS].sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert set(predictions["prediction"]) <= set(TAGS)


def _own_threshold(project) -> float:
    """The champion's own threshold: its signature's default (chosen by calibration)."""
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        info = mlflow.models.get_model_info("models:/madewithml-tagger@champion")
    finally:
        mlflow.set_tracking_uri(None)
    (threshold,) = info.signature.params.params
    return threshold.default


def test_the_threshold_turns_unsure_predictions_into_other(tiny_champion_project, batch):
    most_likely = batch[0.0][TAGS].idxmax(axis=1)
    assert batch[0.0]["prediction"].tolist() == most_likely.tolist()
    assert set(batch[1.0]["prediction"]) == {"other"}  # nothing is ever that sure
    own = _own_threshold(tiny_champion_project)
    assert 0.25 <= own < 1.0
    sure = batch[None][TAGS].max(axis=1) >= own  # no threshold given: the model's own
    expected = most_likely.where(sure, "other")
    assert batch[None]["prediction"].tolist() == expected.tolist()
    pd.testing.assert_frame_equal(batch[0.0][TAGS], batch[None][TAGS])


def test_any_model_uri_by_parameter(tiny_champion_project, batch, tmp_path):
    (tmp_path / "projects.csv").write_text(PROJECTS.to_csv(index=False))
    output = tmp_path / "out.csv"
    result = kedro(
        tiny_champion_project,
        "run",
        "--pipelines=inference",
        f"--params=inference.model_uri=models:/madewithml-tagger/1,"
        f"inference.input={tmp_path / 'projects.csv'},inference.output={output}",
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    pd.testing.assert_frame_equal(pd.read_csv(output), batch[None])


def test_without_a_champion_the_error_says_how_to_get_one(tmp_path):
    project = copy_project(tmp_path / "project")
    PROJECTS.to_csv(project / "data/01_raw/projects_to_predict.csv", index=False)
    result = kedro(project, "run", "--pipelines=inference", data_dir=tmp_path)
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0
    assert (
        squashed("Could not load the MLflow model 'models:/madewithml-tagger@champion'") in output
    )
    assert squashed("--params=inference.model_uri=") in output
    assert not (project / "data/07_model_output/batch_predictions.csv").exists()


def test_the_ray_data_engine_writes_the_same_file(
    tiny_champion_project, batch, ray_session, tmp_path
):
    """`--params=inference.engine=ray_data`: Ray is started (here: joined) because the catalog's
    datasets require it; the file has the same columns, rows and predictions as in process."""
    PROJECTS.to_csv(tmp_path / "projects.csv", index=False)
    output = tmp_path / "out.csv"
    result = kedro(
        tiny_champion_project,
        "run",
        "--pipelines=inference",
        f"--params=inference.input={tmp_path / 'projects.csv'},inference.output={output},"
        "inference.engine=ray_data",
        data_dir=tmp_path,
        env={"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Ray joined" in result.stderr  # the hook, for the datasets
    streamed = pd.read_csv(output)
    assert list(streamed.columns) == list(batch[None].columns)
    assert streamed["prediction"].tolist() == batch[None]["prediction"].tolist()
    pd.testing.assert_frame_equal(streamed[TAGS], batch[None][TAGS], atol=1e-6)
