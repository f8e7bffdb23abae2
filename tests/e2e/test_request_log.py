"""The request log of `kedro serve` as a user runs it (its own Ray, conf/base's serving.yml):
storage that fails never fails a request, and on SIGTERM under load every answered request is
in the log."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from servers import start_kedro_serve, stop, wait_for, wait_for_line

from madewithml.datasets import RequestLogDataset

PROJECT = {"title": "Transformers for text", "description": "A language model for search."}


def _load(url: str, prefix: str, stop_after: threading.Event, answered: list[str]) -> None:
    """/predict requests with ids `<prefix>-<n>` until `stop_after` is set; the ids answered
    200 go to `answered` (a request the stopping service refuses does not)."""
    n = 0
    with httpx.Client(timeout=30) as client:
        while not stop_after.is_set():
            request_id = f"{prefix}-{n}"
            n += 1
            try:
                response = client.post(
                    url + "/predict", json=PROJECT, headers={"X-Request-ID": request_id}
                )
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                answered.append(request_id)


def _wait_until_every_replica_failed_a_write(url: str) -> dict[str, dict]:
    """The request log's statistics of each replica (`GET /`) once both failed a write, or
    after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        replicas = {}
        for _ in range(10):
            health = httpx.get(url + "/", timeout=10).json()
            replicas[health["replica"]] = health["request_log"]
        done = len(replicas) == 2 and all(s["failed_writes"] for s in replicas.values())
        if done or time.monotonic() > deadline:
            return replicas
        time.sleep(1)


def test_every_answer_survives_failing_storage_and_sigterm_under_load(
    tiny_champion_project, tmp_path
):
    """The log's folder blocked at first (a file where it should be: as a full disk or a
    read-only folder, writes fail): requests are answered and the rows wait in the buffer.
    Unblocked, then SIGTERM to `kedro serve` while 32 clients send requests: every request
    answered 200, before and during, is in the log, under its X-Request-ID."""
    project = tmp_path / "project"
    shutil.copytree(tiny_champion_project, project, ignore=shutil.ignore_patterns("data", "logs"))
    log_path = tmp_path / "requests"
    log_path.write_text("a file where the log's folder should be")
    (project / "conf/local/catalog.yml").write_text(
        f"request_log:\n  type: madewithml.datasets.RequestLogDataset\n  path: {log_path}\n"
    )
    # A write as soon as 50 rows wait (it fails while blocked, then waits flush_interval_s),
    # none by the clock: what is answered after that is written only when the service stops.
    (project / "conf/local/serving.yml").write_text(
        "serving:\n  request_log:\n    flush_interval_s: 600\n    flush_rows: 50\n"
    )
    process, url = start_kedro_serve(project)
    answered: list[str] = []
    try:
        wait_for_line(process, f"what it answers recorded in {log_path}", timeout=240)
        wait_for(url + "/", process)
        blocked = threading.Event()
        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(_load, url, f"b{i}", blocked, answered) for i in range(8)]
            replicas = _wait_until_every_replica_failed_a_write(url)
            blocked.set()
            for client in clients:
                client.result()
        assert len(replicas) == 2 and all(s["failed_writes"] for s in replicas.values()), replicas
        answered_while_blocked = len(answered)
        assert answered_while_blocked > 0
        log_path.unlink()  # the storage is back
        under_load = threading.Event()
        with ThreadPoolExecutor(32) as pool:
            clients = [pool.submit(_load, url, f"s{i}", under_load, answered) for i in range(32)]
            time.sleep(5)
            output = stop(process)  # SIGTERM while the 32 clients keep sending
            under_load.set()
            for client in clients:
                client.result()
    finally:
        if process.poll() is None:
            stop(process)
    assert process.returncode == 0, output[-4000:]
    logged = RequestLogDataset(path=str(log_path)).load()
    missing = set(answered) - set(logged["request_id"])
    assert not missing, (len(missing), len(answered), output[-3000:])
    assert len(answered) > answered_while_blocked  # requests were answered under load too
    assert "request log: writing" in output  # the failed writes were logged, not raised
    print(f"{len(answered)} answered ({answered_while_blocked} while blocked), all logged")
