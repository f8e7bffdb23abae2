"""Finding the best run of an experiment (the seed's get_best_run_id)."""

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from madewithml.training.tracking import best_run_id


@pytest.fixture
def experiment(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiment_id = client.create_experiment("madewithml", str(tmp_path / "mlruns"))
    runs = {}
    for name, f1, status in [
        ("a", 0.91, "FINISHED"),
        ("b", 0.95, "FINISHED"),
        ("c", 0.99, "FAILED"),
    ]:
        run = client.create_run(experiment_id, run_name=name)
        client.log_metric(run.info.run_id, "evaluation.holdout_f1", f1)
        client.set_terminated(run.info.run_id, status=status)
        runs[name] = run.info.run_id
    unscored = client.create_run(experiment_id, run_name="no metric")
    client.set_terminated(unscored.info.run_id)
    yield runs
    mlflow.set_tracking_uri(None)


def test_best_by_max_ignores_failed_runs(experiment):
    assert best_run_id("madewithml", "evaluation.holdout_f1", "max") == experiment["b"]


def test_best_by_min(experiment):
    assert best_run_id("madewithml", "evaluation.holdout_f1", "min") == experiment["a"]


@pytest.mark.parametrize(
    ("experiment_name", "metric", "mode", "message"),
    [
        ("nope", "evaluation.holdout_f1", "max", "no MLflow experiment named 'nope'"),
        ("madewithml", "val_loss", "min", "has the metric 'val_loss'"),
        ("madewithml", "evaluation.holdout_f1", "best", "mode must be"),
    ],
)
def test_clear_errors(experiment, experiment_name, metric, mode, message):
    with pytest.raises(ValueError, match=message):
        best_run_id(experiment_name, metric, mode)
