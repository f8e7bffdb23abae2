"""Finding the best run of an experiment (the seed's get_best_run_id), and the run a Kedro
session leaves behind."""

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


SESSION_IN_A_NOTEBOOK = """
from pathlib import Path
import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
with KedroSession.create(project_path=Path.cwd()) as session:
    session.run(pipeline_names=["data_processing"])
print("active run after the run:", mlflow.active_run())
"""


@pytest.mark.slow  # a Kedro session in a new process
def test_a_run_in_a_long_lived_process_leaves_no_mlflow_run_active(tmp_path):
    """kedro-mlflow reopens the run before every node: the run must still end with the pipeline
    (a notebook or a service goes on logging into whatever run is active), and not be ended a
    second time at exit (MLflow prints the run's URL each time on a tracking server)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from factories import write_raw_data  # noqa: PLC0415
    from project_copy import copy_project, kedro_env  # noqa: PLC0415

    data_dir = write_raw_data(tmp_path / "raw")
    project = copy_project(tmp_path / "project")
    result = subprocess.run(
        [sys.executable, "-c", SESSION_IN_A_NOTEBOOK],
        cwd=project,
        env=kedro_env(project, data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "active run after the run: None" in result.stdout, result.stdout
