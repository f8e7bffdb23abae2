"""The commands a benchmark runs as a user does: `kedro` in a project copy, and servers
(`kedro serve`, `mlflow models serve`) in the background until a block ends."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from project_copy import copy_project, kedro_env

BIN = Path(sys.executable).parent
# The processes of a `kedro serve`'s Ray Serve, by what their command line holds (Ray names its
# actors' processes).
SERVE_PROCESSES = {"ServeReplica": "replicas", "ProxyActor": "proxy"}


def descendants(pid: int) -> list[tuple[psutil.Process, str]]:
    """(process, command line) of each live descendant of `pid` (one exiting is skipped)."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append((child, " ".join(child.cmdline())))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """A command of this environment's bin/ (`kedro ...`) to its end; its stdout. Its own session:
    Ray's processes signal their process group, not ours."""
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr}")
    return result.stdout


def train(project: Path, env: dict[str, str], pipeline: str = "__default__") -> str:
    """`kedro run` (or `--pipelines=<pipeline>`) in the copy; the URI of the version it
    registered last."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    started = time.perf_counter()
    args = [] if pipeline == "__default__" else [f"--pipelines={pipeline}"]
    run(["kedro", "run", *args], project, env)
    print(f"kedro run {' '.join(args)} in {time.perf_counter() - started:.0f} s", flush=True)
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions("name='madewithml-tagger'")
    return f"models:/madewithml-tagger/{max(int(v.version) for v in versions)}"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """`--model-uri` and `--tracking-uri`, read by `model_in_a_copy`."""
    parser.add_argument("--model-uri", help="default: train one in a throw-away copy")
    parser.add_argument("--tracking-uri", help="the store of --model-uri")


@contextmanager
def model_in_a_copy(
    args: argparse.Namespace, data: Path
) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A throw-away copy of the project (its folder, its environment) for the block, and the
    model to measure: `args.model_uri` (in `args.tracking_uri`, set as the environment's
    MLFLOW_TRACKING_URI), else the version a fresh `kedro run` in the copy registered."""
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir) / "project")
        env = kedro_env(project, data)
        if args.model_uri:
            env["MLFLOW_TRACKING_URI"] = args.tracking_uri or env["MLFLOW_TRACKING_URI"]
            yield project, env, args.model_uri
        else:
            yield project, env, train(project, env)


class Server:
    """A command of this environment in the background until the block ends (SIGTERM), once
    `ready` answers 200. `pid` is the command's process; its output collects in `lines`."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], ready: str) -> None:
        self.command, self.cwd, self.env, self.ready = command, cwd, env, ready
        self.lines: list[str] = []

    def __enter__(self) -> Server:
        env = {**self.env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{self.env.get('PATH', '')}"}
        self.process = subprocess.Popen(
            [str(BIN / self.command[0]), *self.command[1:]],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.pid = self.process.pid
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("".join(self.lines)[-3000:])
            try:
                if httpx.get(self.ready, timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(1)
        raise SystemExit(f"{self.ready} did not answer")

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
