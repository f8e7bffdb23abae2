"""PromotionHook against a real (sqlite) MLflow model registry."""

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from mlflow.tracking import MlflowClient

from madewithml.hooks import PromotionHook

NAME, ALIAS = "madewithml-tagger", "champion"
EVALUATION = pipeline([node(lambda x: x, "evaluation_input", "evaluation_report")])


@pytest.fixture
def registry(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "mlruns"))
    client.create_registered_model(NAME)
    runs = []
    for _ in range(2):
        run = client.create_run(experiment)
        client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run.info.run_id)
        runs.append(run.info.run_id)
    yield client, runs
    mlflow.set_tracking_uri(None)


def _hook() -> PromotionHook:
    hook = PromotionHook()
    hook._registry = {"name": NAME, "champion_alias": ALIAS}
    return hook


def _catalog(model: dict, promote: bool, f1: float = 0.95) -> DataCatalog:
    report = {
        "model": model,
        "overall": {"f1": f1},
        "promotion": {"promote": promote, "reason": "r"},
    }
    return DataCatalog({"evaluation_report": MemoryDataset(report)})


def test_promotes_the_version_trained_by_the_evaluated_run(registry):
    client, runs = registry
    _hook().after_pipeline_run(EVALUATION, _catalog({"run_id": runs[0]}, True, 0.951))
    version = client.get_model_version_by_alias(NAME, ALIAS)
    assert str(version.version) == "1"
    assert float(version.tags["holdout_f1"]) == pytest.approx(0.951)


def test_promotes_a_version_named_by_its_uri(registry):
    client, _ = registry
    _hook().after_pipeline_run(EVALUATION, _catalog({"model_uri": f"models:/{NAME}/2"}, True))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "2"


def test_no_promotion_leaves_the_registry_alone(registry):
    client, runs = registry
    _hook().after_pipeline_run(EVALUATION, _catalog({"run_id": runs[1]}, False))
    assert client.get_registered_model(NAME).aliases == {}


def test_pipelines_without_evaluation_are_ignored(registry):
    client, runs = registry
    other = pipeline([node(lambda x: x, "a", "b")])
    _hook().after_pipeline_run(other, _catalog({"run_id": runs[0]}, True))
    assert client.get_registered_model(NAME).aliases == {}


def test_an_unregistered_model_is_not_promoted(registry, caplog):
    client, _ = registry
    _hook().after_pipeline_run(EVALUATION, _catalog({"run_id": "not-a-run"}, True))
    assert client.get_registered_model(NAME).aliases == {}
    assert "no registered version" in caplog.text


def test_the_recorded_f1_is_exact_so_the_champion_does_not_beat_itself(registry):
    from madewithml.datasets import RegisteredModelAliasDataset  # noqa: PLC0415
    from madewithml.promotion import decide_promotion  # noqa: PLC0415

    client, runs = registry
    f1 = 0.9077764777106105
    _hook().after_pipeline_run(EVALUATION, _catalog({"run_id": runs[0]}, True, f1))
    champion = RegisteredModelAliasDataset(name=NAME, alias=ALIAS).load()
    assert champion["holdout_f1"] == f1
    assert decide_promotion(f1, 0.5, champion["holdout_f1"])["promote"] is False
