"""The MLflow run a Kedro session leaves behind: none, once its pipeline ends."""

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
