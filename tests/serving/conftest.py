"""The HTTP service, started for real on loopback in the test session's Ray."""

from __future__ import annotations

import time

import httpx
import pytest
from factories import free_port

SERVING = {
    "limits": {"max_body_bytes": 20_000, "max_items": 8, "max_text_chars": 500},
    # A long wait, so that concurrent requests surely share batches.
    "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.2},
    # As conf/base/serving.yml: Ray's default of 5 ongoing requests makes the router back off.
    "deployment": {
        "num_replicas": 1,
        "max_ongoing_requests": 64,
        "ray_actor_options": {"num_cpus": 0},
        "logging_config": {"log_level": "WARNING", "enable_access_log": False},
    },
    # No line per request into the test session's console (the kedro serve test checks them).
    "request_log": False,
}


@pytest.fixture(scope="session")
def tiny_model(tiny_champion_project):
    """(tracking URI, model URI) of the tiny project's champion, pinned to its version."""
    import mlflow  # noqa: PLC0415

    from madewithml.shipping.registry import pinned_model_uri  # noqa: PLC0415

    tracking = f"sqlite:///{tiny_champion_project / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        yield tracking, pinned_model_uri("models:/madewithml-tagger@champion")
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def service(ray_session, tiny_model):
    """The base URL of a running service over the tiny champion, threshold 0.5 (one per test
    module: Serve does not idle on the test session's cores in between)."""
    from ray import serve  # noqa: PLC0415

    from madewithml.serving.app import start_service  # noqa: PLC0415

    tracking, model_uri = tiny_model
    serve.shutdown()  # a fresh Serve with this port, whatever ran on the session's Ray before
    url = start_service(
        {**SERVING, "model_uri": model_uri, "tracking_uri": tracking, "threshold": 0.5},
        host="127.0.0.1",
        port=free_port(),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url
    serve.shutdown()
