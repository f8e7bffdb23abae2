"""Benchmark of the HTTP service (Ray Serve + FastAPI, dynamic batching) on 2 CPU cores.

In one process, one after the other:
1. raw: the served model's batched forward pass (pre-tokenized batches of 32 holdout projects,
   2 torch threads), in projects/s: the ceiling for the service;
2. in-process: the logged model's own `predict` (the one path every caller uses) for one
   project and for 256;
3. served: `kedro serve`'s deployment (conf/base/serving.yml) on this machine's Ray, loaded by
   an asyncio client at concurrency 1, 8 and 32, one project per request: requests/s and p50/p99
   latency. The client runs on the same 2 cores as the service.

Default model: the registry's champion in this project's MLflow store (after `kedro run`).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/serving.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import pandas as pd
from training import RESULTS, _data_dir, write_results

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def raw_throughput(tagger, projects: pd.DataFrame, batch_size: int = 32) -> float:
    """Projects/s of the model's forward pass alone, on pre-tokenized batches."""
    from madewithml.core.tokenization import pad_batch, pad_id, tokenize  # noqa: PLC0415

    ids = tokenize(tagger.texts(projects).tolist(), tagger.tokenizer, tagger.settings.max_length)
    padding = pad_id(tagger.tokenizer)
    batches = [pad_batch(ids[i : i + batch_size], padding) for i in range(0, len(ids), batch_size)]
    tagger.classifier.predict_proba(*batches[0])  # warm-up
    started = time.perf_counter()
    for input_ids, attention_mask in batches:
        tagger.classifier.predict_proba(input_ids, attention_mask)
    return len(ids) / (time.perf_counter() - started)


def batch_latency(predict, projects: pd.DataFrame, rows: int, repeats: int) -> float:
    """Median seconds of `predict(a frame of `rows` projects)`."""
    frame = pd.concat([projects] * (rows // len(projects) + 1)).iloc[:rows]
    frame = frame[["title", "description"]].reset_index(drop=True)
    predict(frame)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(frame)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def single_row_latency(predict, projects: pd.DataFrame, repeats: int) -> float:
    """Median seconds of `predict(one-row frame)`."""
    times = []
    for i in range(repeats):
        row = projects.iloc[[i % len(projects)]][["title", "description"]]
        started = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


async def load(url: str, projects: list[dict], concurrency: int, requests: int) -> dict:
    import httpx  # noqa: PLC0415

    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in queue:
            started = time.perf_counter()
            response = await client.post(url + "/predict", json=projects[i % len(projects)])
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for project in projects[:4]:  # warm-up
            await client.post(url + "/predict", json=project)
        before = (await client.get(url + "/")).json()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        after = (await client.get(url + "/")).json()
    batches = after["predict_batches"] - before["predict_batches"]
    return {
        "concurrency": concurrency,
        "requests": requests,
        "errors": errors,
        "rps": requests / elapsed,
        "p50_ms": 1000 * _percentile(latencies, 50),
        "p99_ms": 1000 * _percentile(latencies, 99),
        "mean_batch": (after["predict_requests"] - before["predict_requests"]) / max(batches, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/madewithml-tagger@champion")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{ROOT / 'mlflow.db'}")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--out", default=str(RESULTS / "serving.md"))
    args = parser.parse_args()

    import mlflow  # noqa: PLC0415
    import ray  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from ray import serve  # noqa: PLC0415

    from madewithml.serving.app import start_service  # noqa: PLC0415
    from madewithml.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: PLC0415
    from madewithml.shipping.registry import pinned_model_uri  # noqa: PLC0415

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    torch.set_num_threads(2)
    mlflow.set_tracking_uri(args.tracking_uri)
    model_uri = pinned_model_uri(args.model_uri)
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    started = time.perf_counter()
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    load_s = time.perf_counter() - started

    raw = raw_throughput(pyfunc.unwrap_python_model().tagger, holdout)
    one_s = single_row_latency(pyfunc.predict, holdout, 100)
    many_s = batch_latency(pyfunc.predict, holdout, 256, 5)

    loader = CONFIG_LOADER_CLASS(str(ROOT / "conf"), **CONFIG_LOADER_ARGS)
    serving = loader["serving"]["serving"]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    config = {key: serving[key] for key in ("limits", "batching", "deployment")}
    config.update(model_uri=model_uri, tracking_uri=args.tracking_uri, request_log=False)
    url = start_service(config, host="127.0.0.1", port=serving["port"])
    projects = holdout[["title", "description"]].to_dict("records")
    levels = [asyncio.run(load(url, projects, c, args.requests)) for c in (1, 8, 32)]
    serve.shutdown()
    ray.shutdown()

    batching = serving["batching"]
    lines = [
        "# serving benchmark: Ray Serve + FastAPI, dynamic batching",
        "",
        f"Command: `python benchmarks/serving.py` — {time.strftime('%Y-%m-%d')}, 2 CPU cores, "
        f"no GPU; model {model_uri} (MiniLM); {args.requests} single-project requests per "
        f"level; batching max_batch_size {batching['max_batch_size']}, batch_wait_timeout_s "
        f"{batching['batch_wait_timeout_s']}; the client shares the 2 cores.",
        "",
        f"Raw batched forward pass (batches of 32, pre-tokenized): **{raw:.0f} projects/s**.",
        "",
        "| concurrency | requests/s | p50 (ms) | p99 (ms) | errors | mean batch | vs raw |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level in levels:
        lines.append(
            f"| {level['concurrency']} | {level['rps']:.1f} | {level['p50_ms']:.1f} | "
            f"{level['p99_ms']:.1f} | {level['errors']} | {level['mean_batch']:.1f} | "
            f"{level['rps'] / raw:.2f}× |"
        )
    lines += [
        "",
        "In-process, the logged model's own `predict` (the one path every caller uses), "
        f"median: one project {1000 * one_s:.1f} ms, 256 projects {1000 * many_s:.0f} ms "
        f"({256 / many_s:.0f} projects/s); loading the model {load_s:.1f} s.",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
