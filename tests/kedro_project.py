"""Run the real `kedro` command line on a throw-away copy of the project."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

# The same throw-away project copy as the benchmarks (benchmarks/ is on pytest's pythonpath).
from project_copy import copy_project, kedro_env

__all__ = ["copy_project", "kedro", "kedro_in_terminal", "squashed", "written_files"]

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


def kedro_in_terminal(
    project: Path,
    *args: str,
    data_dir: Path,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    columns: int = 120,
) -> tuple[int, str]:
    """`kedro ARGS` as a person runs it: stdout and stderr a terminal `columns` wide (a
    pseudo-terminal). Returns the exit code and all the terminal showed, carriage returns and
    colours included."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        [KEDRO, *args],
        cwd=project,
        env={**kedro_env(project, data_dir), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break  # exited, and nothing left to read
        else:
            process.kill()
            raise subprocess.TimeoutExpired(process.args, timeout, output=bytes(shown))
        returncode = process.wait(timeout=60)
    finally:
        os.close(controller)
    return returncode, shown.decode(errors="replace")
