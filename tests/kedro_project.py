"""Run the real `kedro` command line on a throw-away copy of the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The same throw-away project copy as the benchmarks (benchmarks/ is on pytest's pythonpath).
from project_copy import copy_project, kedro_env

__all__ = ["copy_project", "kedro", "squashed", "written_files"]

KEDRO = str(Path(sys.executable).with_name("kedro"))


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
    return subprocess.run(
        [KEDRO, *args],
        cwd=project,
        env={**kedro_env(project, data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
