"""Hostile and malformed HTTP bodies against the running service (tests/conftest.py:
limits of 20,000 bytes, 8 projects, 500 characters): bodies too large whatever their framing,
what a schema cannot say (lone surrogates, NaN, wrong content types), and generated JSON.
Never a 5xx, the field named, and the service answers afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
import yaml
from factories import PROJECT_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import raw_status, read_until_closed

from madewithml.serving.framing import MAX_LINGERING

PROJECT = {"title": "Transformers for text", "description": "A language model for search."}
LIMIT = 20_000  # SERVING["limits"]["max_body_bytes"]


def _alive(service: str) -> None:
    assert httpx.post(service + "/predict", json=PROJECT, timeout=30).status_code == 200


def _service_rss() -> int:
    """RSS of the Serve replica and proxy processes (where a body would be held)."""
    from ray.util.state import list_actors  # noqa: PLC0415

    actors = list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=1000)
    names = ("ServeReplica", "ProxyActor")
    return sum(
        psutil.Process(a["pid"]).memory_info().rss
        for a in actors
        if a["class_name"].startswith(names)
    )


def _chunks(total: int, size: int = 64 * 1024):
    """A body of `total` bytes that streams as HTTP chunks (no Content-Length)."""
    chunk = b"[" + b'{"title": "t", "description": "d"},' * (size // 36)
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


def _post_streamed(url: str, total: int) -> tuple[int | None, float]:
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


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(service):
    status, seconds = _post_streamed(service + "/predict", 5 * LIMIT)
    assert status == 413
    _alive(service)


@pytest.fixture(scope="module")
def kedro_served(tiny_champion_project):
    """`kedro serve` as a user starts it (its own Ray, conf/base): (url, its process)."""
    from servers import start_kedro_serve, stop, wait_for  # noqa: PLC0415

    process, url = start_kedro_serve(tiny_champion_project)
    try:
        wait_for(url + "/", process, timeout=240)
        yield url, process
    finally:
        stop(process)


def _served_rss(process) -> int:
    """RSS of the Serve proxy and replica that `kedro serve` started (its descendants)."""
    total = 0
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            if any(n in " ".join(child.cmdline()) for n in ("ProxyActor", "ServeReplica")):
                total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def test_a_200_mb_chunked_body_neither_fills_memory_nor_stops_the_service(kedro_served):
    """The attack of issue 15 against `kedro serve` (conf/base: a 1 MiB limit): 200 MB,
    chunked, three times. The proxy and replica end as they started, and requests sent
    meanwhile are answered; figures in test-artifacts/chunked-attack.json."""
    from browser import artifacts_dir  # noqa: PLC0415

    url, process = kedro_served
    _alive(url)
    # The first requests grow the processes on their own (allocator arenas, per-thread state):
    # the same traffic as during the attack, before the measure starts.
    with ThreadPoolExecutor(2) as pool:
        assert set(pool.map(lambda _: _alive(url), range(40))) == {None}
    # ... and their rows' first write to the request log (conf/base: at least every
    # flush_interval_s) loads the Parquet writer into each replica, some 100 MB apiece.
    serving = yaml.safe_load((PROJECT_ROOT / "conf/base/serving.yml").read_text())["serving"]
    time.sleep(serving["request_log"]["flush_interval_s"] + 3)
    before = _served_rss(process)
    assert before > 0
    answered, stop = [], threading.Event()
    peak = [before]

    def meanwhile() -> None:
        while not stop.is_set():
            answered.append(httpx.post(url + "/predict", json=PROJECT, timeout=60).status_code)

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _served_rss(process))
            time.sleep(0.1)

    threads = [threading.Thread(target=meanwhile), threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    try:
        attacks = [_post_streamed(url + "/predict", 200 * 2**20) for _ in range(3)]
        time.sleep(2)  # what the proxy took in is given back
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    after = _served_rss(process)
    figures = {
        "body_mb": 200,
        "attacks": [
            {"status": status, "seconds": round(seconds, 2)} for status, seconds in attacks
        ],
        "service_rss_mb": {
            "before": round(before / 2**20),
            "peak": round(peak[0] / 2**20),
            "after": round(after / 2**20),
        },
        "requests_answered_meanwhile": answered.count(200),
        "requests_failed_meanwhile": len(answered) - answered.count(200),
    }
    (artifacts_dir() / "chunked-attack.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    assert all(status in (413, None) for status, _ in attacks), figures
    # nothing of the 3 × 200 MB kept: less than half of one body (measured +38 and +58 MB,
    # as much as the peak: what the requests meanwhile and the refused 1 MiB prefixes took)
    assert after - before < 100 * 2**20, figures
    assert answered and set(answered) == {200}, figures
    _alive(url)


def _connect(port: int):
    import socket  # noqa: PLC0415

    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _huge_header(port: int) -> bytes:
    """The answer to a 100 MB header line, sent in 64 KiB pieces until the service stops it."""
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        try:
            for _ in range(100 * 16):
                sock.sendall(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock)


def _slowloris(port: int) -> tuple[bytes, float]:
    """(answer, seconds) of a client that sends one header byte every half second."""
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        try:
            while time.perf_counter() - started < 30:
                sock.sendall(b"X")
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock), time.perf_counter() - started


def _flood(port: int, total: int, window: int) -> dict[str, int]:
    """Open `total` connections that send nothing, keeping the last `window` of them open
    (the test's own open files), and count how each of those closed early was answered."""
    from collections import Counter, deque  # noqa: PLC0415

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
    deadline = time.monotonic() + 10 + 5  # conf/base: header_timeout_s 10
    for sock in open_:
        answers[str(raw_status(read_until_closed(sock, deadline)))] += 1
        sock.close()
    return dict(answers)


def _predict_timed(url: str) -> tuple[int, float]:
    """(status, seconds) of one /predict on a new connection, as a new client sends it."""
    started = time.perf_counter()
    status = httpx.post(url + "/predict", json=PROJECT, timeout=60).status_code
    return status, time.perf_counter() - started


def test_kedro_serve_applies_the_http_limits_under_attack(kedro_served):
    """serving.http of conf/base in the proxy that `kedro serve` starts, all at once: a 100 MB
    header line (431, not read), 20,000 idle connections past the 1,000 cap (the longest idle
    goes with 503, the rest with 408 after header_timeout_s), a slowloris client; meanwhile a
    client opening a new connection per /predict is answered every time. Latencies quiet and
    under attack in test-artifacts/framing-attack.json (speed goals are not asserted:
    docs/reliability.md)."""
    from browser import artifacts_dir  # noqa: PLC0415

    url, process = kedro_served
    port = int(url.rsplit(":", 1)[1])
    quiet = [_predict_timed(url) for _ in range(30)]
    assert {status for status, _ in quiet} == {200}
    before = _served_rss(process)
    attacked, stop = [], threading.Event()
    proxy = next(
        child
        for child in psutil.Process(process.pid).children(recursive=True)
        if "ProxyActor" in " ".join(child.cmdline())
    )
    files = [proxy.num_fds()]

    def legitimate() -> None:
        while not stop.is_set():
            attacked.append(_predict_timed(url))
            files.append(proxy.num_fds())

    with ThreadPoolExecutor(4) as pool:
        meanwhile = pool.submit(legitimate)
        slow = pool.submit(_slowloris, port)
        header = pool.submit(_huge_header, port)
        flood = pool.submit(_flood, port, total=20_000, window=1_500)
        header_answer = header.result()
        slow_answer, slow_seconds = slow.result()
        flooded = flood.result()
        peak = _served_rss(process)
        stop.set()
        meanwhile.result()
    statuses = [status for status, _ in attacked]
    figures = {
        "predict_p50_ms": {
            "quiet": round(1000 * sorted(s for _, s in quiet)[len(quiet) // 2]),
            "under_attack": round(1000 * sorted(s for _, s in attacked)[len(attacked) // 2]),
        },
        "predict_under_attack": {"answered": statuses.count(200), "all": len(statuses)},
        "huge_header": raw_status(header_answer),
        "idle_connections": flooded,
        "slowloris": {"status": raw_status(slow_answer), "seconds": round(slow_seconds, 1)},
        "proxy_and_replica_rss_mb": {"before": before // 2**20, "peak": peak // 2**20},
        "proxy_open_files": {"before": files[0], "peak": max(files)},
    }
    (artifacts_dir() / "framing-attack.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    assert figures["huge_header"] == 431, figures
    # Every idle connection went: made room for a newer one (503) or timed out (408); the
    # last `window` wait for header_timeout_s.
    assert set(flooded) <= {"503", "408", "reset", "open"}, figures
    assert flooded.get("503", 0) >= 1 and flooded.get("408", 0) >= 1, figures
    # ... and the proxy never held more than the cap, the refused ones lingering and Ray's own.
    files_held = 1_000 + MAX_LINGERING + figures["proxy_open_files"]["before"]
    assert figures["proxy_open_files"]["peak"] <= files_held, figures
    # The slowloris client went by its timeout (408) or, waiting the longest, made room (503).
    assert figures["slowloris"]["status"] in (408, 503) and slow_seconds < 10 + 5, figures
    assert statuses and set(statuses) == {200}, figures
    assert peak - before < 100 * 2**20, figures  # nothing of the 100 MB held
    _alive(url)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"title": "\\ud800", "description": "d"}', "title"),
        ('{"title": "t", "description": "a\\udfffb"}', "description"),
        ('[{"title": "t", "description": "d", "tag": NaN}]', "tag"),
        ('[{"title": "t", "description": "d", "tag": Infinity}]', "tag"),
        ('{"title": 1e999, "description": "d"}', "title"),
    ],
)
def test_what_json_allows_but_text_is_not_gets_a_422_naming_the_field(service, body, field):
    path = "/evaluate" if '"tag"' in body else "/predict"
    response = httpx.post(
        service + path, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert field in {str(part) for problem in response.json()["detail"] for part in problem["loc"]}
    _alive(service)


def test_a_project_with_no_letter_or_digit_gets_a_422_and_spares_its_batch(service):
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    bad = {"title": "🚀🔥", "description": "!!! ???"}
    with ThreadPoolExecutor(4) as pool:  # sent together: they would share a batch
        responses = list(
            pool.map(
                lambda body: httpx.post(service + "/predict", json=body, timeout=30),
                [PROJECT, bad, PROJECT, [PROJECT, bad]],
            )
        )
    assert [r.status_code for r in responses] == [200, 422, 200, 422]
    assert "no letter or digit" in responses[1].json()["detail"]
    assert "project 1: no letter or digit" in responses[3].json()["detail"]  # the second one


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_refused_as_such(service, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(service + "/predict", content=json.dumps(PROJECT), headers=headers)
    assert response.status_code == 415
    assert "JSON is expected" in response.json()["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
projects = st.fixed_dictionaries(
    {"title": st.text(), "description": st.text()},
    optional={"tag": st.text() | st.none() | st.floats(), "extra": json_values},
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=json_values | projects | st.lists(projects, max_size=10),
    path=st.sampled_from(["/predict", "/evaluate"]),
)
def test_generated_json_never_gets_a_5xx(service, body, path):
    raw = json.dumps(body, allow_nan=True).encode()  # NaN and Infinity too
    response = httpx.post(
        service + path, content=raw, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code < 500, (response.status_code, response.text[:500])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_generated_bytes_never_get_a_5xx(service, raw):
    response = httpx.post(
        service + "/predict", content=raw, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code < 500, (response.status_code, response.text[:500])


def test_the_service_is_alive_after_the_generated_bodies(service):
    _alive(service)


def _external_address() -> str | None:
    """An IPv4 address of this machine that another machine could reach (not loopback)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                return address.address
    return None


def _join_and_run(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Another client joins the Ray at `address` and runs a command there, as issue 26 did."""
    code = (
        "import ray, subprocess\n"
        f"ray.init(address={address!r}, logging_level='ERROR')\n"
        # No CPU asked for: the service's replicas hold every CPU of its Ray.
        "run = ray.remote(num_cpus=0)(\n"
        "    lambda: subprocess.run(['id', '-un'], capture_output=True, text=True)\n"
        ")\n"
        "print('RAN AS', ray.get(run.remote()).stdout.strip())\n"
    )
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        output = [
            part.decode() if isinstance(part, bytes) else (part or "")
            for part in (timeout.stdout, timeout.stderr)
        ]
        return subprocess.CompletedProcess(timeout.cmd, -1, *output)


def test_kedro_serves_ray_lets_no_one_in_without_its_token(kedro_served, tmp_path):
    """Issue 26: with Ray's token authentication off, another process joined the service's Ray
    through the machine's external address and ran a command. Every port of the service's
    processes that listens beyond loopback now refuses a client without the token; the HTTP
    service itself listens on loopback only. Ray 2.60 cannot bind its gRPC servers to loopback
    (docs/reliability.md#security), so the token is what keeps others out."""
    url, process = kedro_served
    _alive(url)
    external = _external_address()
    if external is None:
        pytest.skip("this machine has no address besides loopback: nothing to reach it by")
    processes = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    pids = {each.pid for each in processes}
    listening = [
        each
        for each in psutil.net_connections("tcp")
        if each.status == psutil.CONN_LISTEN and each.pid in pids
    ]
    service_port = int(url.rsplit(":", 1)[1])
    assert {each.laddr.ip for each in listening if each.laddr.port == service_port} == {"127.0.0.1"}
    beyond_loopback = [
        each
        for each in listening
        if not each.laddr.ip.startswith("127.") and each.laddr.ip != "::1"
    ]
    assert beyond_loopback, "Ray 2.60 listens on every interface: this test should see it"
    for each in beyond_loopback:
        host = external if each.laddr.ip in ("0.0.0.0", "::") else each.laddr.ip
        try:
            answer = httpx.get(f"http://{host}:{each.laddr.port}/", timeout=5)
        except httpx.HTTPError:
            continue  # not HTTP: a gRPC server, which checks the token (below)
        # HTTP: Ray's agents ask for the token; the Prometheus exporters show metrics only.
        assert answer.status_code == 401 or answer.text.startswith("# HELP"), (
            each,
            answer.status_code,
            answer.text[:200],
        )
    (gcs,) = [each for each in processes if each.name() == "gcs_server"]
    (port,) = {
        each.laddr.port
        for each in listening
        if each.pid == gcs.pid and each.laddr.ip in ("::", "0.0.0.0")
    }
    stranger = {
        name: value for name, value in os.environ.items() if not name.startswith("RAY_AUTH")
    }
    stranger.update({"HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled"})
    refused = _join_and_run(f"{external}:{port}", stranger)
    assert refused.returncode > 0 and "RAN AS" not in refused.stdout, refused.stderr[-3000:]
    # The same client with the token gets in: the refusal above is the token's doing.
    from madewithml.framework.ray_runtime import auth_token_path  # noqa: PLC0415

    token = auth_token_path().read_text().strip()
    with_token = {**stranger, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    joined = _join_and_run(f"{external}:{port}", with_token)
    assert "RAN AS" in joined.stdout, joined.stderr[-3000:]


def _descendants(process) -> list[tuple[psutil.Process, str]]:
    """(process, command line) of each live descendant (one exiting meanwhile is skipped)."""
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append((child, " ".join(child.cmdline())))
    return found


def test_a_killed_proxy_is_back_within_its_health_checks(kedro_served):
    """SIGKILL of Ray Serve's HTTP proxy: the controller, checking it every
    serving.http.proxy_health_check_period_s (1 s, passed to Ray by `kedro serve`), restarts it
    after three failed checks; with Ray's default (10 s) connections were refused ~35 s.
    Seconds to the first answer again in test-artifacts/proxy-restart.json."""
    from browser import artifacts_dir  # noqa: PLC0415

    url, process = kedro_served
    _alive(url)
    (proxy,) = [child for child in _descendants(process) if "ProxyActor" in child[1]]
    proxy[0].kill()
    killed = time.monotonic()
    refused = 0
    while True:
        try:
            status = httpx.post(url + "/predict", json=PROJECT, timeout=10).status_code
        except httpx.TransportError:
            status = None
        if status == 200:
            break
        refused += 1
        assert time.monotonic() - killed < 120, "the proxy was not restarted"
        time.sleep(0.2)
    back_after = time.monotonic() - killed
    figures = {"back_after_s": round(back_after, 1), "refused_attempts": refused}
    (artifacts_dir() / "proxy-restart.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    # Three checks 1 s apart and a new proxy's start (5.3 s measured); with Ray's default
    # period the third failed check alone comes >= 20 s after the kill (23.3 s measured).
    assert back_after < 15, figures
