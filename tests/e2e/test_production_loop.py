"""The loop after shipping, end to end (issue 27), by the commands a user runs, with clients
sending requests from start to end: `kedro serve` logs every answer → in-distribution traffic →
`kedro run --pipelines=monitoring` raises no alarm → traffic from another domain → monitoring
flags the shift and queues the unsure answers → a person labels the queue → `make retrain`'s
pipeline merges the rows and promotes the challenger → the running service answers with the
new version → someone moves the alias to a version with damaged weights and asks for a reload
(`POST /reload`, which needs the token): it is refused, and the new version keeps answering.
No request fails throughout.

A tiny project (tiny model, synthetic projects), whose champion answers the wrong tag to
everything (its classes saved in the wrong order), so that the retrained model beats it. Its
in-distribution traffic is its validation split (the drift reference itself); the false-alarm
rate on the real holdout is measured on real data by tests/e2e/test_drift_detection.py.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

import httpx
import pandas as pd
import pytest
from factories import damaged, mislabelled, register_variant, write_raw_data
from kedro_project import kedro
from mlflow.tracking import MlflowClient
from servers import start_kedro_serve, stop, wait_for, wait_for_line

NAME = "madewithml-tagger"
CLIENTS = 2
POLL_S = 2
WEAK_BASELINE = "--params=evaluation.baseline.C=1.0e-6"
TOKEN = "the reload token of this test"
# Traffic from another domain: Python's own documentation, a function and its docstring.
OTHER_DOMAIN = [
    {"title": name, "description": (getattr(module, name).__doc__ or name).split("\n\n")[0]}
    for module in (json, shutil, time)
    for name in dir(module)
    if not name.startswith("_") and callable(getattr(module, name))
][:40]


def _send(url: str, traffic: dict, stop_after: threading.Event, answers: list) -> None:
    """/predict with the projects of `traffic["projects"]` in turn (the test may swap them)
    until `stop_after` is set: (when sent, status, version) per request."""
    with httpx.Client(timeout=60) as client:
        for n in count():
            if stop_after.is_set():
                return
            projects = traffic["projects"]
            sent = time.monotonic()
            try:
                response = client.post(url + "/predict", json=projects[n % len(projects)])
                answers.append(
                    (sent, response.status_code, response.headers.get("x-model-version"))
                )
            except httpx.TransportError as error:
                answers.append((sent, repr(error), None))


def _wait_for_answers(answers: list, more: int) -> None:
    start = len(answers)
    while len(answers) - start < more:
        time.sleep(0.1)


def _run(project, data_dir, env, *args) -> None:
    result = kedro(project, "run", *args, data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _label_and_retrain(project, data_dir, env) -> tuple[pd.DataFrame, dict]:
    """A person labels the feedback queue (projects of another domain: `other`) and drops it
    into the incoming folder; continuous training runs. The queue and the evaluation report."""
    queue = pd.read_csv(project / "data/08_reporting/feedback_queue.csv")
    (project / "data/01_raw/incoming").mkdir(parents=True)
    queue.assign(tag="other").to_csv(project / "data/01_raw/incoming/labelled.csv", index=False)
    # (the synthetic projects are so easy that the baseline ties the tiny model: weaken it)
    _run(project, data_dir, env, "--pipelines=continuous_training", WEAK_BASELINE)
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    return queue, report


def _monitor(project, data_dir, env, answers: list, more: int, since: float | None = None) -> dict:
    """Once `more` answers have come back and been logged, `kedro run --pipelines=monitoring`;
    its verdict. `since` (a time): the window holds only the answers after it (counted back
    from the log's last answer), and every answer is queued for labelling (the tiny model is
    sure of everything)."""
    _wait_for_answers(answers, more)
    time.sleep(2)  # the log's next flush
    args = ["--pipelines=monitoring"]
    if since is not None:
        days = (time.time() - since) / 86400
        args.append(
            f"--params=monitoring.window_days={days},monitoring.feedback.uncertain_below=1.0"
        )
    _run(project, data_dir, env, *args)
    return json.loads((project / "data/08_reporting/drift.json").read_text())


def _move_to_a_damaged_version(project: Path, tmp_path: Path, process, url: str) -> list[int]:
    """Someone moves the alias to a version with damaged weights and asks for a reload, first
    without the token, then with it; once the service has refused the version, the two
    statuses."""
    broken = register_variant(project, tmp_path / "broken", damaged)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    client.set_registered_model_alias(NAME, "champion", broken)
    reloads = [
        httpx.post(url + "/reload").status_code,
        httpx.post(url + "/reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code,
    ]
    wait_for_line(process, f"models:/{NAME}/{broken}, which is refused", timeout=60)
    time.sleep(2)  # requests go on after the refusal
    return reloads


def _write_summary(phases: dict, answers: list) -> None:
    """test-artifacts/production-loop.json: when each step ended, and the requests sent."""
    summary = {"seconds": phases, "requests": len(answers), "clients": CLIENTS}
    Path("test-artifacts").mkdir(exist_ok=True)
    Path("test-artifacts/production-loop.json").write_text(json.dumps(summary, indent=2))


@pytest.fixture
def project(tiny_champion_project, tmp_path):
    """A copy of the tiny project, its champion a version that answers the wrong tags,
    that `kedro serve` (one replica) follows every POLL_S, logging every answer (flushed each
    second)."""
    copy = tmp_path / "project"
    shutil.copytree(
        tiny_champion_project, copy, ignore=shutil.ignore_patterns("ray_results", "requests")
    )
    bad = register_variant(copy, tmp_path / "bad", mislabelled)
    MlflowClient(tracking_uri=f"sqlite:///{copy / 'mlflow.db'}").set_registered_model_alias(
        NAME, "champion", bad
    )
    (copy / "conf/local/serving.yml").write_text(
        f"serving:\n  champion:\n    poll_interval_s: {POLL_S}\n"
        "  request_log:\n    flush_interval_s: 1\n"
        "  deployment:\n    num_replicas: 1\n"  # one to start and one to roll out: faster
    )
    (copy / "conf/local/credentials.yml").write_text(f"serving_reload_token: {TOKEN}\n")
    return copy, bad


def test_serve_log_monitor_label_retrain_and_follow_without_a_failed_request(
    project, tmp_path, ray_session
):
    project, bad = project
    data_dir = write_raw_data(tmp_path / "raw")
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    validation = pd.read_parquet(project / "data/04_feature/val_projects.parquet")
    in_distribution = validation[["title", "description"]].to_dict("records")
    answers: list[tuple] = []
    traffic = {"projects": in_distribution}
    started = time.monotonic()
    phases = {}  # seconds from the start to the end of each step

    def reached(step: str) -> None:
        phases[step] = round(time.monotonic() - started, 1)

    process, url = start_kedro_serve(project)
    done, pool = threading.Event(), ThreadPoolExecutor(CLIENTS)
    try:
        wait_for_line(process, f"following models:/{NAME}@champion", timeout=240)
        wait_for(url + "/", process)
        reached("serving")
        # CLIENTS clients send requests from start to end, whatever else happens
        for _ in range(CLIENTS):
            pool.submit(_send, url, traffic, done, answers)

        calm = _monitor(project, data_dir, env, answers, 60)
        reached("monitoring: in-distribution traffic")
        assert calm["drift_detected"] is False, calm["tests"]

        traffic["projects"], shifted_from = OTHER_DOMAIN, time.time()
        shifted = _monitor(project, data_dir, env, answers, 80, since=shifted_from)
        reached("monitoring: shifted traffic")
        assert shifted["drift_detected"] is True, shifted["tests"]

        queue, report = _label_and_retrain(project, data_dir, env)
        reached("continuous training")
        assert report["promotion"]["promote"] is True, report["promotion"]
        new = report["model"]["model_uri"].rsplit("/", 1)[1]
        wait_for_line(process, f"now serving models:/{NAME}/{new}", timeout=150)
        switched = time.monotonic()
        reached("serving the new champion")
        reloads = _move_to_a_damaged_version(project, tmp_path, process, url)
        reached("the damaged version refused")
    finally:
        done.set()
        pool.shutdown(wait=True)
        output = stop(process) if process.poll() is None else "".join(process.lines)

    _write_summary(phases, answers)
    intake = json.loads((project / "data/08_reporting/intake.json").read_text())
    assert intake["incoming_rows"] == len(queue) and intake["added"]["count"] > 0, intake
    assert report["promotion"]["current_champion"]["version"] == bad
    failed = [a for a in answers if a[1] != 200]
    assert not failed, (len(failed), failed[:5], output[-3000:])
    assert {version for sent, _, version in answers if sent < switched} >= {bad}
    after = {version for sent, _, version in answers if sent > switched}
    assert after == {new}, output[-3000:]  # also while and after the damaged one was refused
    assert reloads == [401, 202]  # POST /reload needs the token
    assert f"still serving models:/{NAME}/{new}" in output
