"""A `kedro serve` replica's own `predict`, idle and under load (issue 24): is the model slower
inside the service than alone?

`kedro serve` of a model (as benchmarks/serving.py starts it). For each replica, through Ray's
`__ray_call__` (code run inside the replica actor): every holdout project predicted alone by the
service's own `_predict_rows`, from a thread of its own, while no request arrives: wall and CPU
time per project. Then one-project requests at `--concurrency` for `--seconds` from
benchmarks/serving.py's client: the service's own `predict` phase (`GET /` statistics) and the
CPU that each replica's batcher thread (`predict_0`) spent per batch, read from /proc.

Reaches into Ray Serve's replica object (`_replica_impl._user_callable_wrapper._callable`): a
diagnosis of Ray 2.60, not an API.

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/replica_predict.py \
    --model-uri models:/madewithml-tagger/1 --tracking-uri sqlite:///$PWD/mlflow.db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from pathlib import Path

import pandas as pd
from commands import add_model_arguments, model_in_a_copy
from serving import Target, kedro_served, load
from training import RESULTS, _data_dir, _machine, write_results


def _alone(replica, holdout: list[dict]) -> dict:
    """Inside the replica: each project predicted alone on a thread of its own."""

    def probe(actor, rows):
        import time  # noqa: PLC0415 - runs in the replica
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        service = actor._replica_impl._user_callable_wrapper._callable

        def run() -> tuple[list[float], float]:
            walls, cpu = [], time.thread_time()
            for row in rows:
                began = time.perf_counter()
                service._predict_rows([row])
                walls.append(time.perf_counter() - began)
            return walls, time.thread_time() - cpu

        found = {}
        with ThreadPoolExecutor(1) as pool:
            threads = {"its own thread": pool, "the batcher's thread": service.batcher._thread}
            for name, executor in threads.items():
                executor.submit(run).result()  # warm-up
                walls, cpu = executor.submit(run).result()
                found[name] = {
                    "mean_ms": 1000 * statistics.mean(walls),
                    "cpu_ms": 1000 * cpu / len(rows),
                }
        return found

    import ray  # noqa: PLC0415

    return ray.get(replica.__ray_call__.remote(probe, holdout))


def _batcher_threads(replica) -> tuple[int, int]:
    """(process id, native thread id) of the replica's batcher thread."""

    def probe(actor):
        import os  # noqa: PLC0415
        import threading  # noqa: PLC0415

        thread = next(t for t in threading.enumerate() if t.name.startswith("predict"))
        return os.getpid(), thread.native_id

    import ray  # noqa: PLC0415

    return ray.get(replica.__ray_call__.remote(probe))


def _thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds (user + system) of one thread, from /proc."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(target: Target, holdout: list[dict], args: argparse.Namespace):
    """Each replica's `predict` alone, then the service under load: (alone, load's result,
    CPU seconds of the batcher threads under load)."""
    import ray  # noqa: PLC0415

    names = [
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["name"].startswith("SERVE_REPLICA::")
    ]
    handles = [ray.get_actor(name, namespace="serve") for name in names]
    alone = [_alone(handle, holdout) for handle in handles]
    bodies = [[row] for row in holdout]
    asyncio.run(load(target, bodies, 8, 3))  # every replica's batcher thread started
    threads = [_batcher_threads(handle) for handle in handles]
    before = [_thread_cpu(*thread) for thread in threads]
    loaded = asyncio.run(load(target, bodies, args.concurrency, args.seconds))
    spent = sum(_thread_cpu(*t) - b for t, b in zip(threads, before, strict=True))
    return alone, loaded, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--out", default=str(RESULTS / "replica_predict.md"))
    args = parser.parse_args()

    data = _data_dir()
    frame = pd.read_csv(data / "holdout.csv")[["title", "description"]]
    holdout = frame.to_dict("records")
    with (
        model_in_a_copy(args, data) as (project, env, model_uri),
        kedro_served(project, env, model_uri) as target,
    ):
        import ray  # noqa: PLC0415

        from madewithml.framework.ray_runtime import loopback_only  # noqa: PLC0415

        with loopback_only():  # the service's Ray listens on loopback only (conf/base/ray.yml)
            ray.init(address="auto", namespace="serve", log_to_driver=False)
        try:
            alone, loaded, spent = _measure(target, holdout, args)
        finally:  # before the service (and its Ray) stops
            ray.shutdown()
    batches = loaded["requests"] / loaded["requests_per_batch"]
    lines = [
        "# A `kedro serve` replica's own `predict`, idle and under load",
        "",
        f"Command: `python benchmarks/replica_predict.py --concurrency {args.concurrency} "
        f"--seconds {args.seconds:g}` — model {model_uri}, {_machine()}.",
        "",
        "| measured | per | mean wall (ms) | CPU of the batcher thread (ms) |",
        "| --- | --- | ---: | ---: |",
        *(
            f"| replica {i + 1}, idle: each holdout project alone, inside the replica, on "
            f"{where} | project | {a[where]['mean_ms']:.1f} | {a[where]['cpu_ms']:.1f} |"
            for i, a in enumerate(alone)
            for where in a
        ),
        f"| under load: one-project requests at concurrency {args.concurrency}, "
        f"{loaded['rps']:.1f} requests/s, {loaded['requests_per_batch']:.1f} projects per batch "
        f"| batch | {loaded['phases_ms']['predict']:.1f} (the service's `predict` phase, mean) "
        f"| {1000 * spent / batches:.1f} |",
        "",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
