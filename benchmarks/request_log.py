"""Benchmark: the CPU the request log costs `kedro serve`, per request.

What a replica does for the log, in this process on holdout projects with answers as the
service gives them: per request, build its rows and hand them to the buffer
(`madewithml.monitoring.request_log.answer_rows`, `RequestLogWriter.add`, on the event loop);
per batch of rows, the background thread's Parquet write (`conf/base/serving.yml`'s
`flush_rows` and `store_text`). Measured as CPU seconds of this process (all its threads) per
request, for requests of 1 and of 16 projects, against a loop that only builds the answers.

The serving benchmark (`benchmarks/serving.py`) also runs `kedro serve` with and without the
log, but two 10 s runs on a shared 2-core machine differ by more than the log costs; this
measure isolates it, and divides by the server CPU per request that benchmark measured.

    MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/request_log.py

Writes benchmarks/results/request_log.md.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml
from training import RESULTS, _data_dir, _machine, write_results

from madewithml.monitoring.request_log import RequestLogWriter, answer_rows

ROOT = Path(__file__).resolve().parents[1]
TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")
ROWS = 20_000  # per size: fewer than max_buffered_rows, so that a tight loop drops none
# Rows per file as a replica writes them under load: each of 2 replicas answers ~40 requests/s
# at concurrency 32 (serving.md) and writes every flush_interval_s (5 s): ~200 rows a file.
FILE_ROWS = 200
SIZES = (1, 16)


def _answers(size: int) -> list[dict]:
    probabilities = {"computer-vision": 0.1, "mlops": 0.2, "natural-language-processing": 0.6}
    return [
        {
            "prediction": "natural-language-processing",
            "probabilities": probabilities | {"other": 0.1},
        }
    ] * size


def cpu_per_request(projects: list[dict], size: int, settings: dict, log: bool) -> float:
    """CPU seconds of this process per request over `ROWS / size` requests of `size` projects,
    with the log's work (`log`) or without it; the writer's last write included."""
    answers = _answers(size)
    model = {"model_name": "madewithml-tagger", "model_version": "1", "run_id": "r", "replica": "a"}
    with tempfile.TemporaryDirectory() as folder:
        writer = (
            RequestLogWriter(
                f"{folder}/requests",
                "replica",
                flush_interval_s=settings["flush_interval_s"],
                flush_rows=FILE_ROWS,
                max_buffered_rows=settings["max_buffered_rows"],
            )
            if log
            else None
        )
        requests = ROWS // size
        started = time.process_time()
        for n in range(requests):
            batch = projects[(n * size) % (len(projects) - size) :][:size]
            if writer is not None:
                writer.add(
                    answer_rows(
                        when=datetime.now(UTC),
                        request_id=f"{n:032x}",
                        projects=batch,
                        predictions=answers,
                        model=model,
                        latency_ms=30.0,
                        store_text=settings["store_text"],
                    )
                )
        if writer is not None:
            writer.close()
            assert writer.stats["rows_written"] == requests * size, writer.stats
        return (time.process_time() - started) / requests


def _served_cpu_ms() -> dict[int, float]:
    """kedro serve's server CPU per request at concurrency 32, by projects per request, from
    the serving benchmark's committed results."""
    table = (RESULTS / "serving.md").read_text()
    found = {}
    for size in SIZES:
        match = re.search(
            rf"^\| kedro serve \| {size} \| 32 \|(?:[^|]*\|){{6}} ([\d.]+) \|", table, re.M
        )
        if match:
            found[size] = float(match.group(1))
    return found


def main() -> None:
    settings = yaml.safe_load((ROOT / "conf/base/serving.yml").read_text())["serving"]
    settings = settings["request_log"]
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    projects = holdout[["title", "description"]].to_dict("records")
    served = _served_cpu_ms()
    results = []
    for size in SIZES:
        bare = cpu_per_request(projects, size, settings, log=False)
        logged = cpu_per_request(projects, size, settings, log=True)
        result = {"size": size, "log_cpu_us": 1e6 * (logged - bare)}
        if size in served:
            result["served_cpu_ms"] = served[size]
            result["share"] = (logged - bare) * 1000 / served[size]
        results.append(result)
        print(json.dumps(result), flush=True)
    lines = [
        "# request log benchmark: the CPU it costs `kedro serve` per request",
        "",
        f"Command: `python benchmarks/request_log.py` — {time.strftime('%Y-%m-%d')}, "
        f"{_machine()}. {ROWS:,} rows of holdout projects per size, conf/base's "
        f"`serving.request_log` (store_text {settings['store_text']}), a file every "
        f"{FILE_ROWS} rows as a replica under load writes them; CPU of all threads, the log's "
        "rows built, buffered and written as Parquet, minus the same loop without the log.",
        "",
        "| projects per request | log CPU per request (µs) | kedro serve's CPU per request at "
        "concurrency 32 (ms, serving.md) | share |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        served_ms = f"{r['served_cpu_ms']:.0f}" if "served_cpu_ms" in r else "–"
        share = f"**{100 * r['share']:.2f} %**" if "share" in r else "–"
        lines.append(f"| {r['size']} | {r['log_cpu_us']:.0f} | {served_ms} | {share} |")
    lines += [
        "",
        "At concurrency 32 the service is CPU-bound on these 2 cores, so the log's share of its "
        "CPU per request is the throughput it costs (issue 27's target: at most 5 %).",
    ]
    write_results(RESULTS / "request_log.md", lines)


if __name__ == "__main__":
    main()
