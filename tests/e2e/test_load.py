"""A bounded load test on loopback: 5,000 requests at concurrency 32 against the running service.
Zero errors, every answer well formed, the service's memory stable; the figures (latencies,
throughput, peak memory) go to test-artifacts/load-test.json."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import threading
import time

import httpx
import psutil
from browser import artifacts_dir

REQUESTS = int(os.environ.get("MADEWITHML_LOAD_REQUESTS", "5000"))
CONCURRENCY = 32
# Distinct projects (distinct answers), so an answer given to the wrong request of a batch shows.
PROJECTS = [
    {"title": f"{topic} project {i}", "description": f"{detail}, take {i}."}
    for i in range(8)
    for topic, detail in [
        ("Transformers for text", "A language model for search"),
        ("YOLO object detection", "Real-time images"),
        ("Kubeflow pipelines", "Deploying models"),
    ]
]


def _service_processes() -> list[psutil.Process]:
    """The Ray Serve replica and proxy processes: where the service's memory is."""
    from ray.util.state import list_actors  # noqa: PLC0415

    actors = list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=1000)
    names = ("ServeReplica", "ProxyActor")
    return [psutil.Process(a["pid"]) for a in actors if a["class_name"].startswith(names)]


class MemorySampler(threading.Thread):
    """Total RSS of `processes`, every 0.25 s until stopped."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.processes, self.samples, self.done = processes, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(sum(p.memory_info().rss for p in self.processes))
            time.sleep(0.25)


async def _load(url: str) -> list[tuple[int, float, str]]:
    """(status, seconds, body) of every request, at most CONCURRENCY in flight."""
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(i: int) -> tuple[int, float, str]:
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post("/predict", json=PROJECTS[i % len(PROJECTS)])
                except httpx.HTTPError as error:
                    return 0, time.perf_counter() - started, repr(error)
                return response.status_code, time.perf_counter() - started, response.text

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


def _expected(tiny_model) -> list[dict]:
    """The answer to each of PROJECTS, from the served model loaded in this process."""
    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from madewithml.core.pyfunc import THRESHOLD_PARAM  # noqa: PLC0415
    from madewithml.serving.answers import answers  # noqa: PLC0415

    tracking, model_uri = tiny_model
    mlflow.set_tracking_uri(tracking)
    model = mlflow.pyfunc.load_model(model_uri)
    return answers(model.predict(pd.DataFrame(PROJECTS), params={THRESHOLD_PARAM: 0.5}))


def test_5000_requests_at_concurrency_32_without_errors_or_memory_growth(service, tiny_model):
    import pytest  # noqa: PLC0415

    expected = _expected(tiny_model)
    assert len({json.dumps(answer["probabilities"]) for answer in expected}) == len(PROJECTS)
    processes = _service_processes()
    assert processes, "no Serve replica or proxy process found"
    sampler = MemorySampler(processes)
    sampler.start()
    started = time.perf_counter()
    results = asyncio.run(_load(service))
    elapsed = time.perf_counter() - started
    sampler.done.set()
    sampler.join()

    errors = [(status, body[:200]) for status, _, body in results if status != 200]
    assert not errors, f"{len(errors)} of {REQUESTS} failed, e.g. {errors[:3]}"
    answers = [json.loads(body) for _, _, body in results]
    for i, answer in enumerate(answers):  # every request got its own project's answer
        assert answer["prediction"] == expected[i % len(PROJECTS)]["prediction"], i
        assert answer["probabilities"] == pytest.approx(
            expected[i % len(PROJECTS)]["probabilities"], abs=1e-6
        ), i
    latencies = sorted(seconds for _, seconds, _ in results)
    samples = sampler.samples
    quarter = max(1, len(samples) // 4)
    first, last = statistics.mean(samples[:quarter]), statistics.mean(samples[-quarter:])
    figures = {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "errors": len(errors),
        "seconds": round(elapsed, 1),
        "requests_per_s": round(REQUESTS / elapsed, 1),
        "latency_ms": {
            q: round(1000 * latencies[int(p * (len(latencies) - 1))], 1)
            for q, p in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)]
        },
        "service_rss_mb": {
            "first_quarter": round(first / 2**20),
            "last_quarter": round(last / 2**20),
            "peak": round(max(samples) / 2**20),
        },
        "processes": len(processes),
    }
    (artifacts_dir() / "load-test.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    # Stable memory: the last quarter of the run holds no more than the first, give or take
    # 10 % and 50 MB of allocator noise.
    assert last <= first * 1.1 + 50 * 2**20, figures
    # The service still answers after the load.
    assert httpx.post(service + "/predict", json=PROJECTS[0]).status_code == 200
