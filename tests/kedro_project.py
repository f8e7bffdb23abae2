"""Run the real `kedro` command line on a throw-away copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from factories import PROJECT_ROOT

KEDRO = str(Path(sys.executable).with_name("kedro"))
DATA_LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]


def copy_project(destination: Path) -> Path:
    """The project's configuration with empty data folders; the package is the installed one."""
    shutil.copytree(PROJECT_ROOT / "conf" / "base", destination / "conf" / "base")
    (destination / "conf" / "local").mkdir()
    (destination / "src").mkdir()  # the package itself is the installed (editable) one
    shutil.copy(PROJECT_ROOT / "pyproject.toml", destination / "pyproject.toml")
    for layer in DATA_LAYERS:
        (destination / "data" / layer).mkdir(parents=True)
    return destination


def squashed(text: str) -> str:
    """`text` without any white space, so that messages wrapped by the terminal can be matched."""
    return "".join(text.split())


def written_files(project: Path) -> list[str]:
    """Every file under the project's data/ folder."""
    return sorted(str(p.relative_to(project)) for p in (project / "data").rglob("*") if p.is_file())


def kedro(
    project: Path,
    *args: str,
    data_dir: Path,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`kedro ARGS` in `project`, reading raw data from `data_dir`, tracking into the copy."""
    env = {
        **os.environ,
        **(env or {}),
        "MADEWITHML_DATA_DIR": str(data_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [KEDRO, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
