"""An MLflow store that cannot be reached or written stops `kedro run --pipelines=training` with an
error naming the store, before any node runs (nothing under data/, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import free_port, make_raw_projects
from kedro_project import copy_project, kedro, squashed, written_files


def _read_only_store(folder: Path) -> str:
    """A real store that already has the project's experiment, opened read-only by SQLite."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    path = folder / "readonly.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").create_experiment("madewithml")
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def _under_a_file(folder: Path) -> str:
    """A store whose folder cannot exist (a file has its name): MLflow cannot create it."""
    (folder / "not-a-folder").write_text("")
    return f"sqlite:///{folder / 'not-a-folder' / 'mlflow.db'}"


STORES = {
    "unreachable server": lambda folder: f"http://127.0.0.1:{free_port()}",
    "uncreatable file": _under_a_file,
    "read-only": _read_only_store,
}
# What the error says; MLflow's own message (a SQLite store's names the database only in its
# traceback, a server's names the URL).
REASONS = {
    "unreachable server": "Connection refused",
    "uncreatable file": "File exists",
    "read-only": "attempt to write a readonly database",
}


@pytest.mark.parametrize("store", list(STORES))
def test_a_bad_tracking_store_fails_before_any_work(store, tmp_path):
    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    make_raw_projects(6).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    uri = STORES[store](tmp_path)
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's default retries for minutes
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    }
    result = kedro(project, "run", "--pipelines=training", data_dir=data_dir, env=env, timeout=300)
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0
    assert squashed(REASONS[store]) in output, result.stderr[-3000:]
    if store == "unreachable server":
        assert squashed(uri) in output
    assert written_files(project) == []
    assert "Runningnode" not in output  # not one node ran
