"""An MLflow store that cannot be reached, written or locked stops `kedro run
--pipelines=training` with a one-line error naming the store and MLflow's reason, before any
node runs (nothing under data/, no training)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from factories import free_port, make_raw_projects
from kedro_project import copy_project, kedro, squashed, written_files


def _with_experiment(path: Path) -> Path:
    """A real SQLite store at `path` that already has the project's experiment."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    MlflowClient(tracking_uri=f"sqlite:///{path}").create_experiment("madewithml")
    return path


def _read_only_store(folder: Path) -> str:
    """A real store, opened read-only by SQLite."""
    return f"sqlite:///file:{_with_experiment(folder / 'readonly.db')}?mode=ro&uri=true"


def _under_a_file(folder: Path) -> str:
    """A store whose folder cannot exist (a file has its name): MLflow cannot create it."""
    (folder / "not-a-folder").write_text("")
    return f"sqlite:///{folder / 'not-a-folder' / 'mlflow.db'}"


LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


@contextmanager
def _locked(folder: Path) -> Iterator[str]:
    """A real store with the project's experiment, which another process holds locked (as a
    long write of another run or `mlflow ui` would) while the block runs."""
    path = _with_experiment(folder / "locked.db")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        yield f"sqlite:///{path}"
    finally:
        locker.kill()
        locker.wait()


STORES = {
    "unreachable server": lambda folder: f"http://127.0.0.1:{free_port()}",
    "uncreatable file": _under_a_file,
    "read-only": _read_only_store,
    "locked": _locked,
}
# What the error says; MLflow's own message (a SQLite store's names the database only in its
# traceback, a server's names the URL).
REASONS = {
    "unreachable server": "Connection refused",
    "uncreatable file": "File exists",
    "read-only": "attempt to write a readonly database",
    "locked": "database is locked (another process is writing to it",
}


@pytest.mark.parametrize("store", list(STORES))
def test_a_bad_tracking_store_fails_before_any_work(store, tmp_path):
    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    make_raw_projects(6).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    with _store(STORES[store], tmp_path) as uri:
        env = {
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's default retries for minutes
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        }
        result = kedro(
            project, "run", "--pipelines=training", data_dir=data_dir, env=env, timeout=300
        )
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0
    assert squashed(REASONS[store]) in output, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]  # one line
    assert squashed(f"Error: the MLflow tracking store {uri} cannot be used:") in output
    if store == "unreachable server":
        assert squashed(uri) in output
    assert written_files(project) == []
    assert "Runningnode" not in output  # not one node ran


@contextmanager
def _store(make, folder: Path) -> Iterator[str]:
    """The store's URI, from a function or (for one that needs a process) a context manager."""
    made = make(folder)
    if isinstance(made, str):
        yield made
    else:
        with made as uri:
            yield uri
