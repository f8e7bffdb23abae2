"""The proxy's HTTP framing limits (madewithml.serving.framing) on a real uvicorn server with
the limited protocol and small limits, spoken to over raw sockets: heads too large or with too
many fields (431), slow or idle clients (408), too many connections (503), and requests within
every limit answered as before."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

import pytest
import uvicorn
from attacks import raw_status, read_until_closed, slowloris
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn import config as uvicorn_config

from madewithml.serving.framing import (
    CALLBACK_VARIABLE,
    HEAD_SLACK_BYTES,
    LIMITS_VARIABLE,
    install_from_environment,
    protocol_with,
    proxy_environment,
)
from madewithml.serving.schemas import HttpLimits

LIMITS = HttpLimits(
    max_connections=8,
    max_header_bytes=2048,
    max_headers=20,
    header_timeout_s=0.5,
    body_timeout_s=0.5,
    keep_alive_timeout_s=1,
    proxy_health_check_period_s=1.0,
)


async def echo(scope, receive, send) -> None:
    """Answers 200 with the length of the body it read."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({"bytes": len(body)}).encode()
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        echo,
        http=protocol_with(LIMITS),
        lifespan="off",
        log_level="critical",
        timeout_keep_alive=LIMITS.keep_alive_timeout_s,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    SERVERS[sock.getsockname()[1]] = server
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


SERVERS: dict[int, uvicorn.Server] = {}  # by port: what the server holds (its requests' tasks)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _head(fields: list[tuple[str, str]], target: str = "/", close: bool = True) -> bytes:
    lines = [f"GET {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _exchange(port: int, raw: bytes) -> bytes:
    with _connect(port) as sock:
        sock.sendall(raw)
        return read_until_closed(sock)


def test_requests_within_the_limits_are_answered_on_one_connection(port):
    with _connect(port) as sock:
        for body in (b"", b"x" * 100):
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            answer = sock.recv(65536)
            assert raw_status(answer) == 200
            assert answer.endswith(json.dumps({"bytes": len(body)}).encode())


@settings(max_examples=60, deadline=None)
@given(
    target=st.text("abcxyz/", min_size=0, max_size=300).map(lambda t: "/" + t),
    fields=st.lists(
        st.tuples(st.text("abcdefgh", min_size=1, max_size=20), st.text("xyz", max_size=400)),
        max_size=26,
    ),
)
def test_a_head_is_answered_if_and_only_if_it_is_within_both_limits(port, target, fields):
    fields = [("Host", "a"), *fields, ("Connection", "close")]
    size = len(target) + sum(len(name) + len(value) + 4 for name, value in fields)
    within = size <= LIMITS.max_header_bytes and len(fields) <= LIMITS.max_headers
    answer = _exchange(port, _head(fields, target, close=False))
    assert raw_status(answer) == (200 if within else 431), (size, len(fields), answer[:200])
    if not within:
        assert b"request target and headers" in answer or b"header fields" in answer


@pytest.mark.parametrize("over", [0, 1])
def test_the_limits_are_exact(port, over):
    """A head of exactly `max_header_bytes` (or `max_headers` fields) is answered; one byte
    (or one field) more is refused."""
    fields = [("Host", "a"), ("Connection", "close")]
    used = 1 + sum(len(name) + len(value) + 4 for name, value in fields)  # target "/"
    padding = LIMITS.max_header_bytes - used - len("X-Pad") - 4 + over
    sized = _exchange(port, _head([*fields, ("X-Pad", "p" * padding)], close=False))
    counted = [("Host", "a"), *((f"X-{i}", "v") for i in range(LIMITS.max_headers - 2 + over))]
    numbered = _exchange(port, _head(counted))
    assert (raw_status(sized), raw_status(numbered)) == ((431, 431) if over else (200, 200))


def test_a_200_mb_header_is_refused_once_past_the_limit_and_not_read(port):
    """The header of issue 26 (200 MB, streamed): 431 after the first few kilobytes, and the
    server reads no more than it needs to answer."""
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        sent = 0
        try:
            while sent < 200 * 2**20:
                sock.sendall(b"x" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        # The server stopped the connection long before: the kernel's buffers hold the rest.
        assert sent < 16 * 2**20
        answer = read_until_closed(sock)
    assert raw_status(answer) == 431
    assert f"over {LIMITS.max_header_bytes} bytes".encode() in answer
    assert LIMITS.max_header_bytes + HEAD_SLACK_BYTES < 16 * 2**20


def test_slow_and_idle_clients_get_408_and_lose_their_connection(port):
    started = time.monotonic()
    with _connect(port) as idle:  # connects and says nothing
        assert raw_status(read_until_closed(idle)) == 408
    assert time.monotonic() - started < LIMITS.header_timeout_s + 2
    answer, _ = slowloris(port, every_s=0.05, for_s=5)  # one header byte at a time
    assert raw_status(answer) == 408
    assert b"no whole request header" in answer
    with _connect(port) as slow_body:  # its head, then half its body
        slow_body.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
        answer = read_until_closed(slow_body)
        assert raw_status(answer) == 408
        assert b"no whole request body" in answer


def test_at_the_connection_limit_a_new_client_takes_the_place_of_the_longest_idle(port):
    """A flood of idle connections neither takes the open files nor keeps a new client out:
    the connection that waited longest goes (503), the new one is answered."""
    with ExitStack() as stack:
        held = []
        for _ in range(LIMITS.max_connections):
            held.append(stack.enter_context(_connect(port)))
            time.sleep(0.01)  # in this order
        assert raw_status(_exchange(port, _head([("Host", "a")]))) == 200
        assert b"closed to make room" in read_until_closed(held[0])  # the longest idle went
        for sock in held[2:]:  # the others (one more went for the exchange's own) are served
            sock.sendall(_head([("Host", "a")]))
            assert raw_status(read_until_closed(sock)) == 200


def test_at_the_limit_with_every_connection_busy_a_new_one_gets_503(port):
    with ExitStack() as stack:
        busy = [stack.enter_context(_connect(port)) for _ in range(LIMITS.max_connections)]
        for sock in busy:  # a request in progress on each: its body still coming
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(0.1)
        refused = _exchange(port, _head([("Host", "a")]))
        assert raw_status(refused) == 503
        assert b"all have a request in progress" in refused
        for sock in busy:  # each request finishes on its own connection (body_timeout_s 0.5)
            sock.sendall(b"67890")
        assert [raw_status(read_until_closed(sock)) for sock in busy] == [200] * len(busy)


def test_a_request_refused_mid_body_leaves_no_task_behind(port):
    """A chunked body that turns invalid after its first chunk: 400, and the app's request
    ends (its receive() says the client has gone) rather than waiting for ever."""
    with _connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"5\r\nhello\r\n")
        time.sleep(0.1)  # the app is reading the body
        sock.sendall(b"zz\r\nnot a chunk size\r\n")
        assert raw_status(read_until_closed(sock)) == 400
    deadline = time.monotonic() + 2
    while SERVERS[port].server_state.tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not SERVERS[port].server_state.tasks


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(port):
    with _connect(port) as sock:
        sock.sendall(_head([("Host", "a")], close=False))
        first = sock.recv(65536)
        assert raw_status(first) == 200
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server, not by our timeout
        assert time.monotonic() - started < LIMITS.keep_alive_timeout_s + 2


def test_the_limits_reach_the_proxy_through_the_environment(monkeypatch):
    """`kedro serve` sets `proxy_environment`; Ray's proxy calls `install_from_environment`,
    which makes uvicorn's `auto` protocol the limited one with these limits."""
    environment = proxy_environment(LIMITS)
    assert environment[CALLBACK_VARIABLE] == "madewithml.serving.framing:install_from_environment"
    monkeypatch.setitem(uvicorn_config.HTTP_PROTOCOLS, "auto", "restored after the test")
    monkeypatch.setenv(LIMITS_VARIABLE, environment[LIMITS_VARIABLE])
    assert install_from_environment() == []
    config = uvicorn.Config(echo)
    config.load()
    assert config.http_protocol_class.limits == LIMITS


def test_the_variables_for_a_cluster_s_nodes_come_from_serving_yml():
    """`make cluster-up` starts Ray's nodes with what `python -m madewithml.serving.framing`
    prints."""
    printed = subprocess.run(
        [sys.executable, "-m", "madewithml.serving.framing", "conf/base/serving.yml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    variables = dict(line.split("=", 1) for line in printed.splitlines())
    assert variables[CALLBACK_VARIABLE] == "madewithml.serving.framing:install_from_environment"
    limits = HttpLimits.model_validate_json(variables[LIMITS_VARIABLE])
    assert limits.max_header_bytes == 16384 and limits.max_connections == 1000
    # Ray Serve's controller reads its own variable: a dead proxy is restarted after 3 x 1 s.
    assert float(variables["RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S"]) == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_connections", 0),
        ("max_header_bytes", 10),
        ("header_timeout_s", 0),
        ("body_timeout_s", float("inf")),
        ("keep_alive_timeout_s", 1.5),
        ("max_headers", "64"),
    ],
)
def test_limits_that_cannot_protect_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        HttpLimits.model_validate({**LIMITS.model_dump(), field: value})
