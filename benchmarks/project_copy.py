"""A throw-away copy of the project for benchmark runs: its conf/base, empty data folders, and
its own MLflow store; the code is the installed (editable) package."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]


def copy_project(workdir: Path) -> Path:
    """conf/base, conf/cluster, conf/logging.yml, pyproject.toml, .telemetry, an empty src/ and
    the data layers under `workdir`."""
    shutil.copytree(ROOT / "conf" / "base", workdir / "conf" / "base")
    shutil.copytree(ROOT / "conf" / "cluster", workdir / "conf" / "cluster")
    shutil.copy(ROOT / "conf" / "logging.yml", workdir / "conf" / "logging.yml")
    (workdir / "conf" / "local").mkdir()
    (workdir / "src").mkdir()
    shutil.copy(ROOT / "pyproject.toml", workdir)
    shutil.copy(ROOT / ".telemetry", workdir)
    for layer in LAYERS:
        (workdir / "data" / layer).mkdir(parents=True)
    return workdir


def kedro_env(project: Path, data_dir: Path) -> dict[str, str]:
    """The environment of a `kedro` command in the copy: raw data, MLflow store. Kedro's own
    telemetry switches are left out: the copy's .telemetry file has to keep it off."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK")
    }
    return {
        **inherited,
        "MADEWITHML_DATA_DIR": str(data_dir.resolve()),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "COLUMNS": "200",
    }
