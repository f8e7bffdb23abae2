"""Benchmark of `kedro serve` under attack (issue 26), on 2 CPU cores: what the tests of
tests/e2e/test_hostile_requests.py assert, measured and written to results/attacks.md.

1. A 200 MB chunked body, three times, while a client sends `/predict` back to back: each
   attack's status and seconds, the memory of the Serve proxy and replicas before, at the peak
   and after, and the requests answered meanwhile.
2. The HTTP framing attacks at once (a 100 MB header line, 20,000 idle connections, a slowloris
   client) while a client opens a new connection per `/predict`: its p50 and p99 quiet and under
   attack, how each idle connection and the slowloris client were answered, the proxy's open
   files.
3. SIGKILL of the Serve proxy: seconds until `/predict` answers again.

The scenarios are the tests' own (they import them from here); the tests assert outcomes only,
this writes the figures.

The model: `--model-uri` (in `--tracking-uri`), else the champion of a fresh `kedro run` in a
throw-away copy of the project. `kedro serve` runs with conf/base, as a user starts it.

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/attacks.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import yaml
from commands import SERVE_PROCESSES, descendants
from project_copy import ROOT

PROJECT = {"title": "Transformers for text", "description": "A language model for search."}
SERVED = tuple(SERVE_PROCESSES)  # the processes that hold a request's bytes


def read_until_closed(sock, deadline: float | None = None) -> bytes:
    """What a server sends on the raw socket `sock` until it closes it, the socket's timeout
    passes, or the clock (`time.monotonic`) passes `deadline`."""
    data = b""
    try:
        while True:
            if deadline is not None:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
            if not (chunk := sock.recv(65536)):
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def raw_status(data: bytes) -> int | None:
    """The status of a raw HTTP/1.1 answer; None for none."""
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def served_rss(pid: int) -> int:
    """RSS of the Serve proxy and replicas that the `kedro serve` of `pid` started."""
    total = 0
    for child, command in descendants(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            if any(name in command for name in SERVED):
                total += child.memory_info().rss
    return total


def proxy_of(pid: int) -> psutil.Process:
    """The Serve proxy that the `kedro serve` of `pid` started."""
    (proxy,) = [child for child, command in descendants(pid) if "ProxyActor" in command]
    return proxy


def predict(url: str) -> int:
    return httpx.post(url + "/predict", json=PROJECT, timeout=60).status_code


def predict_timed(url: str) -> tuple[int, float]:
    """(status, seconds) of one /predict on a new connection, as a new client sends it."""
    started = time.perf_counter()
    status = predict(url)
    return status, time.perf_counter() - started


def _chunks(total: int, size: int = 64 * 1024):
    """A body of `total` bytes that streams as HTTP chunks (no Content-Length)."""
    chunk = b"[" + b'{"title": "t", "description": "d"},' * (size // 36)
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


def post_streamed(url: str, total: int) -> tuple[int | None, float]:
    """(status, seconds) of a chunked POST of `total` bytes; None when the service closed the
    connection before the body was sent (it stopped reading)."""
    started = time.perf_counter()
    try:
        response = httpx.post(
            url, content=_chunks(total), headers={"content-type": "application/json"}, timeout=120
        )
        return response.status_code, time.perf_counter() - started
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None, time.perf_counter() - started


def chunked_attack(url: str, pid: int, body_mb: int = 200, attacks: int = 3) -> dict:
    """`attacks` chunked bodies of `body_mb` MB against the `kedro serve` of `pid` (after a
    warm-up and the request log's first write), a client sending `/predict` meanwhile."""
    # The first requests grow the processes on their own (allocator arenas, per-thread state):
    # the same traffic as during the attack, before the measure starts.
    with ThreadPoolExecutor(2) as pool:
        warm_up = set(pool.map(lambda _: predict(url), range(40)))
    # ... and their rows' first write to the request log (conf/base: at least every
    # flush_interval_s) loads the Parquet writer into each replica, some 100 MB apiece.
    serving = yaml.safe_load((ROOT / "conf/base/serving.yml").read_text())["serving"]
    time.sleep(serving["request_log"]["flush_interval_s"] + 3)
    before = served_rss(pid)
    answered, stop = [], threading.Event()
    peak = [before]

    def meanwhile() -> None:
        while not stop.is_set():
            answered.append(predict(url))

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], served_rss(pid))
            time.sleep(0.1)

    threads = [threading.Thread(target=meanwhile), threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    try:
        results = [post_streamed(url + "/predict", body_mb * 2**20) for _ in range(attacks)]
        time.sleep(2)  # what the proxy took in is given back
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    after = served_rss(pid)
    return {
        "body_mb": body_mb,
        "warm_up_statuses": sorted(warm_up),
        "attacks": [{"status": status, "seconds": round(s, 2)} for status, s in results],
        "service_rss_mb": {
            "before": round(before / 2**20),
            "peak": round(peak[0] / 2**20),
            "after": round(after / 2**20),
        },
        "requests_answered_meanwhile": answered.count(200),
        "requests_failed_meanwhile": len(answered) - answered.count(200),
    }


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def huge_header(port: int) -> bytes:
    """The answer to a 100 MB header line, sent in 64 KiB pieces until the service stops it."""
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        try:
            for _ in range(100 * 16):
                sock.sendall(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock)


def slowloris(port: int, every_s: float = 0.5, for_s: float = 30) -> tuple[bytes, float]:
    """(answer, seconds) of a client that sends one header byte every `every_s` seconds, never
    the end of its head, for up to `for_s` seconds."""
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        try:
            while time.perf_counter() - started < for_s:
                sock.sendall(b"X")
                time.sleep(every_s)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock), time.perf_counter() - started


def flood(port: int, total: int, window: int, header_timeout_s: float) -> dict[str, int]:
    """Open `total` connections that send nothing, keeping the last `window` of them open
    (this client's own open files), and count how each of those closed early was answered."""
    open_, answers = deque(), Counter()
    for _ in range(total):
        open_.append(_connect(port))
        if len(open_) > window:
            sock = open_.popleft()
            sock.setblocking(False)
            try:
                answers[str(raw_status(sock.recv(65536)))] += 1
            except BlockingIOError:
                answers["open"] += 1  # not closed by the service (yet)
            except ConnectionResetError:
                answers["reset"] += 1
            sock.close()
    deadline = time.monotonic() + header_timeout_s + 5
    for sock in open_:
        answers[str(raw_status(read_until_closed(sock, deadline)))] += 1
        sock.close()
    return dict(answers)


def _ms(seconds: list[float], q: float) -> int:
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def framing_attack(url: str, pid: int, connections: int = 20_000, window: int = 1_500) -> dict:
    """serving.http of conf/base under attack, all at once: a 100 MB header line,
    `connections` idle connections, a slowloris client; meanwhile a client opens a new
    connection per `/predict`. Its latencies quiet (30 requests first) and under attack."""
    port = int(url.rsplit(":", 1)[1])
    http = yaml.safe_load((ROOT / "conf/base/serving.yml").read_text())["serving"]["http"]
    quiet = [predict_timed(url) for _ in range(30)]
    before = served_rss(pid)
    proxy = proxy_of(pid)
    attacked, stop = [], threading.Event()
    files = [proxy.num_fds()]

    def legitimate() -> None:
        while not stop.is_set():
            attacked.append(predict_timed(url))
            files.append(proxy.num_fds())

    with ThreadPoolExecutor(4) as pool:
        meanwhile = pool.submit(legitimate)
        slow = pool.submit(slowloris, port)
        header = pool.submit(huge_header, port)
        flooded = pool.submit(flood, port, connections, window, http["header_timeout_s"])
        header_answer = header.result()
        slow_answer, slow_seconds = slow.result()
        flooded = flooded.result()
        peak = served_rss(pid)
        stop.set()
        meanwhile.result()
    quiet_s, attacked_s = [s for _, s in quiet], [s for _, s in attacked]
    statuses = [status for status, _ in attacked]
    return {
        "predict_ms": {
            "quiet": {"p50": _ms(quiet_s, 0.5), "p99": _ms(quiet_s, 0.99)},
            "under_attack": {"p50": _ms(attacked_s, 0.5), "p99": _ms(attacked_s, 0.99)},
        },
        "quiet_statuses": sorted({status for status, _ in quiet}),
        "predict_under_attack": {"answered": statuses.count(200), "all": len(statuses)},
        "huge_header": raw_status(header_answer),
        "idle_connections": {"sent": connections, **flooded},
        "slowloris": {"status": raw_status(slow_answer), "seconds": round(slow_seconds, 1)},
        "proxy_and_replica_rss_mb": {"before": before // 2**20, "peak": peak // 2**20},
        "proxy_open_files": {"before": files[0], "peak": max(files)},
    }


def proxy_restart(url: str, pid: int, give_up_s: float = 120) -> dict:
    """SIGKILL of the Serve proxy, then `/predict` every 0.2 s: seconds until it answers."""
    predict(url)
    proxy_of(pid).kill()
    killed = time.monotonic()
    refused = 0
    while time.monotonic() - killed < give_up_s:
        try:
            if predict(url) == 200:
                break
        except httpx.TransportError:
            pass
        refused += 1
        time.sleep(0.2)
    else:
        return {"back_after_s": None, "refused_attempts": refused}
    return {"back_after_s": round(time.monotonic() - killed, 1), "refused_attempts": refused}


def _report(figures: dict, model_uri: str) -> list[str]:
    from training import _machine  # noqa: PLC0415

    chunked, framing, restart = figures["chunked"], figures["framing"], figures["restart"]
    rss, ms = chunked["service_rss_mb"], framing["predict_ms"]
    idle = framing["idle_connections"]
    return [
        "# attacks benchmark: `kedro serve` under attack",
        "",
        f"Command: `python benchmarks/attacks.py` — {time.strftime('%Y-%m-%d')}, {_machine()}; "
        f"model {model_uri}, `kedro serve` with conf/base (1 MiB bodies, 16 KiB heads, "
        "1,000 connections). The tests of tests/e2e/test_hostile_requests.py run the same "
        "scenarios and assert their outcomes.",
        "",
        "| scenario | figure | value |",
        "| --- | --- | ---: |",
        f"| 200 MB chunked body ×{len(chunked['attacks'])} | statuses "
        "(None: the connection closed while sending) | "
        f"{', '.join(str(a['status']) for a in chunked['attacks'])} |",
        f"| | seconds each | {', '.join(str(a['seconds']) for a in chunked['attacks'])} |",
        f"| | proxy and replicas, MB before / peak / after | "
        f"{rss['before']:,} / {rss['peak']:,} / {rss['after']:,} |",
        f"| | `/predict` meanwhile: answered / failed | "
        f"{chunked['requests_answered_meanwhile']} / {chunked['requests_failed_meanwhile']} |",
        f"| framing attacks at once | `/predict` p50 / p99 quiet, ms | "
        f"{ms['quiet']['p50']} / {ms['quiet']['p99']} |",
        f"| | `/predict` p50 / p99 under attack, ms | "
        f"{ms['under_attack']['p50']} / {ms['under_attack']['p99']} |",
        f"| | under attack p50 / quiet p50 | "
        f"{ms['under_attack']['p50'] / max(ms['quiet']['p50'], 1):.2f}× |",
        f"| | `/predict` under attack: answered / sent | "
        f"{framing['predict_under_attack']['answered']} / "
        f"{framing['predict_under_attack']['all']} |",
        f"| | 100 MB header line | {framing['huge_header']} |",
        f"| | {idle['sent']:,} idle connections, answered | "
        + ", ".join(f"{k}: {v:,}" for k, v in idle.items() if k != "sent")
        + " |",
        f"| | slowloris client | {framing['slowloris']['status']} after "
        f"{framing['slowloris']['seconds']} s |",
        f"| | proxy's open files before / peak | "
        f"{framing['proxy_open_files']['before']:,} / {framing['proxy_open_files']['peak']:,} |",
        f"| | proxy and replicas, MB before / peak | "
        f"{framing['proxy_and_replica_rss_mb']['before']:,} / "
        f"{framing['proxy_and_replica_rss_mb']['peak']:,} |",
        f"| proxy SIGKILLed | seconds until `/predict` answers again | "
        f"{restart['back_after_s']} ({restart['refused_attempts']} attempts refused) |",
        "",
        "```json",
        json.dumps(figures, indent=2),
        "```",
    ]


def main() -> None:
    from commands import Server, add_model_arguments, free_port, model_in_a_copy  # noqa: PLC0415
    from training import RESULTS, _data_dir, write_results  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    args = parser.parse_args()
    with model_in_a_copy(args, _data_dir()) as (project, env, model_uri):
        port = free_port()
        command = ["kedro", "serve", "--port", str(port), "--model-uri", model_uri]
        url = f"http://127.0.0.1:{port}"
        with Server(command, project, env, url + "/") as server:
            figures = {
                "chunked": chunked_attack(url, server.pid),
                "framing": framing_attack(url, server.pid),
                "restart": proxy_restart(url, server.pid),
            }
    write_results(RESULTS / "attacks.md", _report(figures, model_uri))


if __name__ == "__main__":
    main()
