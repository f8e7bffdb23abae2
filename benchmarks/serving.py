"""Benchmark of serving on 2 CPU cores: `kedro serve` (Ray Serve + FastAPI, dynamic batching)
beside `mlflow models serve` of the same model and the model's own batched `predict` in process,
in one run.

1. The model: `--model-uri` (in `--tracking-uri`), else the champion of a fresh `kedro run` in a
   throw-away copy of the project.
2. In process: the logged model's own `predict` over the holdout in batches of `--raw-batch`
   rows (rows/s: the ceiling of any server on these cores), one project's latency, and the CPU
   per project in batches of `--service-batch` on one torch thread (as a replica runs it).
3. Each server, started as a user starts it (`kedro serve` with conf/base/serving.yml, the
   same without its request log, `mlflow models serve --env-manager local`), loaded by an
   asyncio client on the same cores at concurrency 1, 8, 32 and 128 with requests of 1 and of
   16 projects, for `--seconds` each after a warm-up: requests/s, projects/s, p50 and p99
   latency, errors, the CPU of the server's processes per request (for `kedro serve`: its
   replicas, Ray Serve's HTTP proxy, the rest of Ray) and of the client;
   for `kedro serve` also the batches it formed and where a request's time went in the service
   (its `GET /` statistics); the request log's cost (`kedro serve` with and without it).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/serving.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import psutil
from commands import (
    SERVE_PROCESSES,
    Server,
    add_model_arguments,
    descendants,
    free_port,
    model_in_a_copy,
)
from training import RESULTS, _data_dir, _machine, write_results

CONCURRENCY = (1, 8, 32, 128)
SIZES = (1, 16)
NO_LOG = "kedro serve, no request log"  # conf/base with serving.request_log.enabled: false
SERVERS = ("kedro serve", NO_LOG, "mlflow models serve")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def in_process(
    model, projects: pd.DataFrame, batch_rows: int, service_batch: int
) -> dict[str, float]:
    """The logged model's own `predict`: rows/s over `projects` in batches of `batch_rows` (after
    a warm-up), the median latency of one project, and the CPU per project of batches of
    `service_batch` rows on one torch thread (what a `kedro serve` replica does)."""
    import torch  # noqa: PLC0415

    frames = [projects.iloc[i : i + batch_rows] for i in range(0, len(projects), batch_rows)]
    model.predict(frames[0])
    started = time.perf_counter()
    for frame in frames:
        model.predict(frame)
    rows_per_s = len(projects) / (time.perf_counter() - started)
    one = []
    for i in range(60):
        row = projects.iloc[[i % len(projects)]]
        began = time.perf_counter()
        model.predict(row)
        one.append(time.perf_counter() - began)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        small = [
            projects.iloc[i : i + service_batch] for i in range(0, len(projects), service_batch)
        ]
        model.predict(small[0])
        cpu = time.process_time()
        for frame in small:
            model.predict(frame)
        service_cpu_ms = 1000 * (time.process_time() - cpu) / sum(map(len, small))
    finally:
        torch.set_num_threads(threads)
    return {
        "rows_per_s": rows_per_s,
        "one_ms": 1000 * statistics.median(one[5:]),
        "service_batch": service_batch,
        "service_batch_cpu_ms": service_cpu_ms,
    }


def _tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of a process and all its descendants, by part:
    Ray Serve's replicas, its HTTP proxy, and the rest (Ray's controller, GCS, raylet,
    agents; the whole of any other server)."""
    total = dict.fromkeys([*SERVE_PROCESSES.values(), "rest"], 0.0)
    for process, command in [(psutil.Process(pid), ""), *descendants(pid)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        part = next((part for name, part in SERVE_PROCESSES.items() if name in command), "rest")
        total[part] += times.user + times.system
    return total


class Target:
    """A server under load: where to send a request of `n` projects, and what its service says
    about itself (None when it says nothing)."""

    def __init__(self, name: str, url: str, pid: int) -> None:
        self.name, self.url, self.pid = name, url, pid
        self.kedro = name in ("kedro serve", NO_LOG)

    def wait_for_replicas(self, count: int, timeout_s: float = 300) -> None:
        """Until `count` replicas answer `GET /` (the service answers once one is up)."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while len(seen) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name}: {len(seen)} of {count} replicas up")
            seen.add(httpx.get(self.url + "/", timeout=30).json()["replica"])
            time.sleep(0.05)

    def request(self, projects: list[dict]) -> tuple[str, dict]:
        if self.kedro:
            return self.url + "/predict", projects[0] if len(projects) == 1 else projects
        split = json.loads(pd.DataFrame(projects).to_json(orient="split", index=False))
        return self.url + "/invocations", {"dataframe_split": split}

    async def stats(self, client: httpx.AsyncClient) -> dict | None:
        """The service's statistics summed over its replicas (each counts its own; `GET /`
        answers from one of them, so ask until every replica has answered: 40 asks)."""
        if not self.kedro:
            return None
        replicas = {}
        for _ in range(40):
            health = (await client.get(self.url + "/")).json()
            replicas[health["replica"]] = health["stats"]
        total = {key: sum(r[key] for r in replicas.values()) for key in ("requests", "projects")}
        total["batches"] = sum(r["batches"] for r in replicas.values())
        phases = next(iter(replicas.values()))["seconds"]
        total["seconds"] = {p: sum(r["seconds"][p] for r in replicas.values()) for p in phases}
        total["replicas"] = sorted(replicas)
        return total


class Connection:
    """One keep-alive HTTP/1.1 connection of the load client, a request at a time, on asyncio
    streams: a few hundred microseconds of the client's CPU per request, where an httpx client
    of 128 connections spent ~19 ms (its pool), CPU that the server under test then lacks on
    these shared cores. Reopened when the server has closed it between requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        """POST `body` (JSON) to `path`; the answer's status (its body is read and dropped)."""
        if self.reader is None or self.reader.at_eof():
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed before an answer")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value == b"chunked"
            elif name == b"connection":
                close = value == b"close"
        if chunked:
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def load(target: Target, bodies: list[list[dict]], concurrency: int, seconds: float) -> dict:
    """`concurrency` clients sending requests back to back for `seconds`, each on a keep-alive
    connection of its own (`Connection`), the bodies encoded beforehand."""
    latencies: list[float] = []
    transport_errors: list[str] = []  # a connection the server closed or reset, by kind
    errors = 0
    encoded = []
    for body in bodies:
        url, payload = target.request(body)
        encoded.append((httpx.URL(url).path, json.dumps(payload).encode()))
    address = httpx.URL(target.url)
    async with httpx.AsyncClient(timeout=120) as client:
        for body in bodies[:5]:  # warm-up
            url, payload = target.request(body)
            await client.post(url, json=payload)
        before, cpu_before = await target.stats(client), _tree_cpu(target.pid)
        client_before = sum(psutil.Process().cpu_times()[:2])
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()

        async def worker(offset: int) -> None:
            nonlocal errors
            connection, i = Connection(address.host, address.port), offset
            while time.perf_counter() < deadline:
                path, body = encoded[i % len(encoded)]
                began = time.perf_counter()
                try:
                    status = await connection.post(path, body)
                except (OSError, asyncio.IncompleteReadError) as error:  # counted as an error
                    errors += 1
                    transport_errors.append(type(error).__name__)
                    await connection.close()
                else:
                    latencies.append(time.perf_counter() - began)
                    errors += status != 200
                i += concurrency
            await connection.close()

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = _tree_cpu(target.pid)
        cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_after}
        client_cpu = sum(psutil.Process().cpu_times()[:2]) - client_before
        after = await target.stats(client)
    requests = len(latencies)
    result = {
        "requests": requests,
        "errors": errors,
        "rps": requests / elapsed,
        "mean_ms": 1000 * statistics.mean(latencies),
        "p50_ms": 1000 * _percentile(latencies, 50),
        "p99_ms": 1000 * _percentile(latencies, 99),
        "server_cpu_ms": 1000 * sum(cpu.values()) / max(requests, 1),
        "server_cpu_parts_ms": {part: 1000 * cpu[part] / max(requests, 1) for part in cpu},
        "client_cpu_ms": 1000 * client_cpu / max(requests, 1),
        "transport_errors": {kind: transport_errors.count(kind) for kind in set(transport_errors)},
    }
    if before is not None:
        if before["replicas"] != after["replicas"]:
            raise SystemExit(f"replicas seen before and after differ: {before} {after}")
        batches = after["batches"] - before["batches"]
        served = after["requests"] - before["requests"]
        result["requests_per_batch"] = served / max(batches, 1)
        result["projects_per_batch"] = (after["projects"] - before["projects"]) / max(batches, 1)
        result["phases_ms"] = {
            phase: 1000 * (after["seconds"][phase] - before["seconds"][phase]) / max(served, 1)
            for phase in after["seconds"]
        }
    return result


def measure(
    target: Target,
    holdout: pd.DataFrame,
    seconds: float,
    sizes: tuple[int, ...] = SIZES,
    levels: tuple[int, ...] = CONCURRENCY,
) -> list[dict]:
    rows = holdout[["title", "description"]].to_dict("records")
    results = []
    for size in sizes:
        bodies = [rows[i : i + size] for i in range(0, len(rows) - size + 1, size)]
        for concurrency in levels:
            result = asyncio.run(load(target, bodies, concurrency, seconds))
            results.append({"server": target.name, "size": size, "concurrency": concurrency})
            results[-1].update(result)
            print(json.dumps(results[-1]), flush=True)
    return results


def _table(results: list[dict], raw_rows_per_s: float) -> list[str]:
    lines = [
        "| server | projects per request | concurrency | requests/s | projects/s | vs in process "
        "| p50 (ms) | p99 (ms) | errors | server CPU per request (ms) | of it: replicas / "
        "proxy / rest | client CPU per request (ms) | requests per batch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for r in results:
        per_batch = f"{r['requests_per_batch']:.1f}" if "requests_per_batch" in r else "–"
        parts = r["server_cpu_parts_ms"]
        split = (
            f"{parts['replicas']:.1f} / {parts['proxy']:.1f} / {parts['rest']:.1f}"
            if parts["replicas"]
            else "–"
        )
        lines.append(
            f"| {r['server']} | {r['size']} | {r['concurrency']} | {r['rps']:.1f} | "
            f"{r['rps'] * r['size']:.0f} | {r['rps'] * r['size'] / raw_rows_per_s:.2f}× | "
            f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | {r['server_cpu_ms']:.0f} | "
            f"{split} | {r['client_cpu_ms']:.1f} | {per_batch} |"
        )
    return lines


def _waterfall(results: list[dict]) -> list[str]:
    kedro = [r for r in results if "phases_ms" in r and r["server"] == "kedro serve"]
    if not kedro:
        return []
    phases = list(kedro[0]["phases_ms"])
    lines = [
        "| projects per request | concurrency | client mean | "
        + " | ".join(phases)
        + " | outside the service |",
        "| ---: | ---: | ---: |" + " ---: |" * (len(phases) + 1),
    ]
    for r in kedro:
        inside = sum(r["phases_ms"].values())
        lines.append(
            f"| {r['size']} | {r['concurrency']} | {r['mean_ms']:.0f} | "
            + " | ".join(f"{r['phases_ms'][p]:.1f}" for p in phases)
            + f" | {r['mean_ms'] - inside:.1f} |"
        )
    return lines


def _budget(kedro: dict, mlflow_: dict, raw: dict) -> list[str]:
    """What one request costs `kedro serve` at concurrency 32 on these cores, and what 3× the
    requests/s of `mlflow models serve` would allow."""
    parts, cores = kedro["server_cpu_parts_ms"], psutil.cpu_count()
    spent = kedro["server_cpu_ms"] + kedro["client_cpu_ms"]
    allowed = 1000 * cores / (3 * mlflow_["rps"])
    model = raw["service_batch_cpu_ms"]
    return [
        f"The CPU of one request, one project at concurrency 32: `kedro serve` spent "
        f"{kedro['server_cpu_ms']:.1f} ms (its replicas {parts['replicas']:.1f}, Ray Serve's "
        f"HTTP proxy {parts['proxy']:.1f}, the rest of Ray {parts['rest']:.1f}) and the client "
        f"{kedro['client_cpu_ms']:.1f} ms: {spent:.1f} ms, so {cores} cores answer at most "
        f"{1000 * cores / spent:.0f} requests/s. 3× the {mlflow_['rps']:.1f} requests/s of "
        f"`mlflow models serve` allows {allowed:.1f} ms per request. The model's own `predict` "
        f"costs {model:.1f} ms of CPU per project in batches of {raw['service_batch']} on one "
        f"thread (in process, as a replica runs it); that and the proxy and client alone are "
        f"{model + parts['proxy'] + kedro['client_cpu_ms']:.1f} ms.",
    ]


def _arguments() -> str:
    """This run's command-line arguments, as a reader would rerun them (without `--out`, and
    with STORE for a local tracking store)."""
    shown, arguments = [], iter(sys.argv[1:])
    for argument in arguments:
        if argument in ("--out", "--tracking-uri"):
            value = next(arguments, "")
            if argument == "--tracking-uri":
                shown += [argument, "STORE" if value.startswith("sqlite") else value]
            continue
        shown.append(argument)
    return "".join(f' "{a}"' if " " in a else f" {a}" for a in shown)


def report(args: argparse.Namespace, model_uri: str, raw: dict, results: list[dict]) -> list[str]:
    """The results file's lines."""

    def best(name: str, size: int, concurrency: int) -> dict:
        return next(
            r
            for r in results
            if r["server"] == name and r["size"] == size and r["concurrency"] == concurrency
        )

    lines = [
        "# serving benchmark: `kedro serve` beside `mlflow models serve` and in-process predict",
        "",
        f"Command: `python benchmarks/serving.py{_arguments()}` — "
        f"{time.strftime('%Y-%m-%d')}, {_machine()}; model {model_uri}. Each level: "
        f"{args.seconds:g} s of requests back to back after a warm-up, holdout projects, from an "
        "asyncio client on the same 2 cores.",
        "",
        f"In process, the logged model's own `predict` in batches of {args.raw_batch}: "
        f"**{raw['rows_per_s']:.0f} projects/s**; one project {raw['one_ms']:.1f} ms; on one "
        f"torch thread in batches of {raw['service_batch']} (as a `kedro serve` replica runs it), "
        f"{raw['service_batch_cpu_ms']:.1f} ms of CPU per project.",
        "",
        *_table(results, raw["rows_per_s"]),
        "",
    ]
    compared = {1, 32} <= set(args.concurrency) and 1 in args.sizes
    if {"kedro serve", "mlflow models serve"} <= set(args.servers) and compared:
        kedro, mlflow_ = best("kedro serve", 1, 32), best("mlflow models serve", 1, 32)
        one_kedro, one_mlflow = best("kedro serve", 1, 1), best("mlflow models serve", 1, 1)
        lines += [
            "One project per request: `kedro serve` at concurrency 32 does "
            f"**{kedro['rps'] / mlflow_['rps']:.2f}×** the requests/s of `mlflow models serve` "
            f"and **{kedro['rps'] / raw['rows_per_s']:.2f}×** the in-process throughput; at "
            f"concurrency 1 its p50 is {one_kedro['p50_ms']:.0f} ms against "
            f"{one_mlflow['p50_ms']:.0f} ms.",
            "",
            *_budget(kedro, mlflow_, raw),
            "",
        ]
    if {"kedro serve", NO_LOG} <= set(args.servers) and compared:
        logged, unlogged = best("kedro serve", 1, 32), best(NO_LOG, 1, 32)
        lines += [
            "The request log's cost (`serving.request_log`, on in conf/base), one project per "
            "request at concurrency 32: "
            f"{logged['rps']:.1f} requests/s with it, {unlogged['rps']:.1f} without "
            f"(**{100 * (1 - logged['rps'] / unlogged['rps']):.1f} %** fewer requests/s with it; "
            f"p50 {logged['p50_ms']:.0f} against {unlogged['p50_ms']:.0f} ms; server CPU per "
            f"request {logged['server_cpu_ms']:.0f} against {unlogged['server_cpu_ms']:.0f} ms).",
            "",
        ]
    waterfall = _waterfall(results)
    if waterfall:
        lines += [
            "Where a `kedro serve` request's time goes inside the service (mean ms per request, "
            "from its `GET /` statistics): `parse` (body read, JSON and schema), `check` (limits "
            "and the input contract), `queue` (waiting for a batch to start), `predict` (its "
            "batch's `predict`), `answer` (its share of the batch's answers back), `respond` "
            "(encoding and sending). `outside the service` is the client's mean latency minus "
            "them: Ray Serve's ingress and the client.",
            "",
            *waterfall,
            "",
        ]
    return lines


@contextmanager
def kedro_served(project: Path, env: dict[str, str], model_uri: str) -> Iterator[Target]:
    """`kedro serve` of `model_uri` in `project` on a free port for the block, once every
    replica answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["kedro", "serve", "--model-uri", model_uri, "--port", str(port)]
    with Server(command, project, env, url + "/") as server:
        target = Target("kedro serve", url, server.pid)
        target.wait_for_replicas(replicas(project))
        yield target


def replicas(project) -> int:
    """`kedro serve`'s replicas in `project`: conf/base/serving.yml's, or a conf/local file's."""
    import yaml  # noqa: PLC0415

    count = None
    for path in [project / "conf/base/serving.yml", *sorted(project.glob("conf/local/serving*"))]:
        deployment = (yaml.safe_load(path.read_text()) or {}).get("serving", {}).get("deployment")
        count = (deployment or {}).get("num_replicas", count)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load level")
    parser.add_argument("--raw-batch", type=int, default=64, dest="raw_batch")
    parser.add_argument(
        "--service-batch",
        type=int,
        default=8,
        dest="service_batch",
        help="the projects per batch of a kedro serve replica at concurrency 32 (its "
        "`requests per batch`), for the model's own CPU per project at that size",
    )
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--concurrency", nargs="+", type=int, default=list(CONCURRENCY))
    parser.add_argument(
        "--conf-local",
        nargs="*",
        default=[],
        dest="conf_local",
        metavar="FILE",
        help="YAML files copied into the throw-away copy's conf/local/ for `kedro serve`, to "
        "measure a configuration against the shipped one (e.g. benchmarks/variants/*.yml)",
    )
    parser.add_argument("--out", default=str(RESULTS / "serving.md"))
    args = parser.parse_args()

    import mlflow  # noqa: PLC0415

    data = _data_dir()
    holdout = pd.read_csv(data / "holdout.csv")
    with model_in_a_copy(args, data) as (project, env, model_uri):
        mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
        model = mlflow.pyfunc.load_model(model_uri)
        raw = in_process(
            model, holdout[["title", "description"]], args.raw_batch, args.service_batch
        )
        print(json.dumps({"in_process": raw}), flush=True)
        del model
        results = []
        for name in args.servers:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            # What the variant without the request log changes: conf/local, for that server only.
            local = project / "conf/local/serving_no_request_log.yml"
            local.parent.mkdir(exist_ok=True)
            local.unlink(missing_ok=True)
            if name == NO_LOG:
                local.write_text("serving:\n  request_log:\n    enabled: false\n")
            for path in map(Path, args.conf_local):
                shutil.copyfile(path, project / "conf/local" / path.name)
            if name in ("kedro serve", NO_LOG):
                command = ["kedro", "serve", "--model-uri", model_uri, "--port", str(port)]
                server = Server(command, project, env, url + "/")
            else:
                command = ["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
                command += ["-h", "127.0.0.1", "-p", str(port)]
                server = Server(command, project, env, url + "/ping")
            with server:
                target = Target(name, url, server.pid)
                if target.kedro:
                    target.wait_for_replicas(replicas(project))
                sizes, levels = tuple(args.sizes), tuple(args.concurrency)
                results += measure(target, holdout, args.seconds, sizes, levels)

    write_results(args.out, report(args, model_uri, raw, results))


if __name__ == "__main__":
    main()
