"""Servers the tests start as a user does (`kedro serve`, `mlflow models serve`): one way to
start a command of this environment in the background, wait for it and stop it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


def wait_for(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("".join(process.lines)[-4000:])
        try:
            if httpx.get(url, timeout=5).status_code in (200, 405):
                return
        except httpx.HTTPError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a command of this environment's bin/ (kedro, mlflow) in the background; its output
    lines collect in `process.lines`."""
    executable = str(Path(sys.executable).with_name(command[0]))
    process = subprocess.Popen(
        [executable, *command[1:]],
        cwd=cwd,
        # As with the virtual environment activated: `mlflow models serve` execs `uvicorn`.
        env={
            **env,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.lines = []
    threading.Thread(target=lambda: process.lines.extend(process.stdout), daemon=True).start()
    return process


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in process.lines):
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"no {text!r} in:\n" + "".join(process.lines)[-4000:])
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    time.sleep(0.5)  # the reader thread drains the pipe
    return "".join(process.lines)


def on_loopback(ip: str) -> bool:
    """Whether a listening address is loopback (127.0.0.0/8, ::1, or IPv4-mapped 127.x)."""
    import ipaddress  # noqa: PLC0415

    address = ipaddress.ip_address(ip.split("%", 1)[0])
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def ray_processes() -> set[int]:
    """The PIDs of every Ray process on this machine (raylet, GCS, dashboard, workers)."""
    import psutil  # noqa: PLC0415

    names = ("raylet", "gcs_server", "dashboard", "ray::", "log_monitor", "runtime_env_agent")
    pids = set()
    for process in psutil.process_iter(["name", "cmdline"]):
        text = " ".join([process.info["name"] or "", *(process.info["cmdline"] or [])])
        if any(name in text for name in names):
            pids.add(process.pid)
    return pids


def alive(pids: set[int], timeout: float = 30) -> list[int]:
    """Those of `pids` still running (not zombies) after up to `timeout` seconds."""
    import psutil  # noqa: PLC0415

    def running() -> list[int]:
        found = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    found.append(pid)
            except psutil.NoSuchProcess:
                pass
        return found

    deadline = time.monotonic() + timeout
    while (left := running()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (any process)."""
    import psutil  # noqa: PLC0415

    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def start_kedro_serve(project: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`kedro serve ARGS` in `project` as a user starts it: its own Ray (not the test
    session's), on a free port. Returns the process and its URL."""
    from factories import free_port  # noqa: PLC0415
    from project_copy import kedro_env  # noqa: PLC0415

    port = free_port()
    env = kedro_env(project, project)
    env.pop("RAY_ADDRESS", None)
    process = start(["kedro", "serve", "--port", str(port), *args], project, env)
    return process, f"http://127.0.0.1:{port}"
