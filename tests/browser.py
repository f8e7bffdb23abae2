"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, and a
Kedro-Viz server on loopback, both stopped with every process they started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from factories import PROJECT_ROOT, free_port

# Flags that let Chromium run headless as root in a container, offline (ENVIRONMENT.md).
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--window-size=1600,1000",
]


def artifacts_dir() -> Path:
    """Where browser tests save screenshots: MADEWITHML_TEST_ARTIFACTS, else test-artifacts/."""
    folder = Path(os.environ.get("MADEWITHML_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver); CI must have them, elsewhere the test is skipped with a hint."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "needs Debian's chromium and chromium-driver (apt-get install, as .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def headless_chromium() -> Iterator:
    """A Selenium driver on a fresh headless Chromium; quitting it must leave no browser."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    chromium, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    service = Service(driver_path)
    driver = webdriver.Chrome(service=service, options=options)
    browser_processes = psutil.Process(service.process.pid).children(recursive=True)
    try:
        yield driver
    finally:
        driver.quit()
        _, alive = psutil.wait_procs(browser_processes, timeout=10)
        assert not alive, f"Chromium processes outlived the driver: {alive}"


def _processes_in_group(group: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == group:
                found.append(process)
    return found


@contextlib.contextmanager
def background_command(
    command: list[str], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """`command` in its own process group; on exit the whole group (children included, such as
    the web server `kedro viz run` spawns) is terminated, then killed, and checked gone."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        group = process.pid  # the session leader's pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        _, alive = psutil.wait_procs(_processes_in_group(group), timeout=15)
        for straggler in alive:
            with contextlib.suppress(psutil.Error):
                straggler.kill()
        process.wait(timeout=15)
        assert not _processes_in_group(group), f"processes of {command[:3]} are still running"


def wait_for_json(url: str, *, timeout: float, process: subprocess.Popen, log: Path) -> dict:
    """GET `url` until it answers JSON; fail early (with the log) if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(url, timeout=5) as response,
        ):
            return json.load(response)
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


__all__ = [
    "artifacts_dir",
    "background_command",
    "free_port",
    "headless_chromium",
    "wait_for_json",
]
