"""The request guard in front of the service, without Ray: JSON only, a body limit whatever the
framing (Content-Length or chunked, counted while the body streams in, never read whole), and
one log line per request."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.serving.guard import (
    MAX_LOGGED_CHARS,
    RequestGuard,
    UniqueKeysRoute,
    access_logger,
    printable,
)
from madewithml.serving.schemas import ServiceConfig

LIMIT = 1000


def _app(access_log: str | None = None) -> FastAPI:
    app = FastAPI()
    app.state.config = ServiceConfig(
        model_uri="models:/m/1",
        limits={
            "max_body_bytes": LIMIT,
            "max_items": 8,
            "max_text_chars": 100,
            "max_request_chars": 600,
        },
        batching={"max_batch_projects": 4},
        access_log=access_log,
    )

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        request.state.projects = 1
        return {"bytes": len(await request.body())}

    @app.get("/")
    def health() -> dict:
        return {"status": "ok"}

    app.add_middleware(RequestGuard)
    return app


def _send(app: FastAPI, method: str, path: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


class Chunks:
    """A chunked body (no Content-Length): `count` chunks of `size` bytes, counting how many
    the server pulled."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.pulled = count, size, 0

    async def __aiter__(self):
        for _ in range(self.count):
            self.pulled += 1
            yield b"x" * self.size


JSON = {"content-type": "application/json"}


def test_a_chunked_body_over_the_limit_is_refused_once_the_limit_is_passed():
    body = Chunks(count=100, size=300)  # 30,000 bytes, 300 at a time
    response = _send(_app(), "POST", "/echo", content=body, headers=JSON)
    assert response.status_code == 413
    assert str(LIMIT) in response.json()["detail"]
    assert body.pulled <= LIMIT // 300 + 2  # read up to just past the limit, not whole


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read():
    response = _send(_app(), "POST", "/echo", content=b"x" * (LIMIT + 1), headers=JSON)
    assert response.status_code == 413
    assert (
        response.json()["detail"]
        == f"request body of {LIMIT + 1} bytes is over the 1000-byte limit"
    )


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_at_the_limit_is_read_whole(framing):
    content = b"x" * LIMIT if framing == "content-length" else Chunks(count=4, size=LIMIT // 4)
    response = _send(_app(), "POST", "/echo", content=content, headers=JSON)
    assert response.status_code == 200 and response.json() == {"bytes": LIMIT}


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON", 200),
        ("application/merge-patch+json", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("", 415),
    ],
)
def test_only_json_is_taken(content_type, status):
    headers = {"content-type": content_type} if content_type else {}
    response = _send(_app(), "POST", "/echo", content=b"{}", headers=headers)
    assert response.status_code == status
    if status == 415:
        assert "JSON is expected" in response.json()["detail"]


def test_a_get_is_not_checked():
    assert _send(_app(), "GET", "/").json() == {"status": "ok"}


@pytest.mark.parametrize("access_log", ["access.log", None])
def test_one_log_line_per_request_when_asked(caplog, access_log):
    app = _app(access_log=access_log)
    with caplog.at_level(logging.INFO, logger=access_logger.name):
        _send(app, "POST", "/echo", content=b"{}", headers=JSON)
        _send(app, "POST", "/echo", content=b"x" * (LIMIT + 1), headers=JSON)
    lines = [r.getMessage() for r in caplog.records if r.name == access_logger.name]
    if not access_log:
        assert lines == []
        return
    assert [line.split(" ")[:3] for line in lines] == [
        ["POST", "/echo", "200"],
        ["POST", "/echo", "413"],
    ]
    assert lines[0].endswith("projects=1") and lines[1].endswith("projects=-")


def test_the_access_log_is_written_to_its_file_by_a_background_thread(tmp_path, monkeypatch):
    from madewithml.serving.guard import log_access_to  # noqa: PLC0415

    monkeypatch.setattr(access_logger, "handlers", [])
    monkeypatch.setattr(access_logger, "propagate", True)
    path = tmp_path / "logs" / "access.log"
    assert log_access_to(path) is not None
    assert log_access_to(tmp_path / "other.log") is None  # once per process
    app = _app(access_log=str(path))
    for _ in range(3):
        _send(app, "POST", "/echo", content=b"{}", headers=JSON)
    deadline = time.monotonic() + 10  # written by the background thread, soon after
    while len(path.read_text().splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert all(re.search(r"^\S+ \S+ POST /echo 200 [\d.]+ ms projects=1$", line) for line in lines)
    assert not (tmp_path / "other.log").exists()


@settings(max_examples=100, deadline=None)
@given(path=st.text(min_size=1, max_size=300))
def test_no_path_forges_or_breaks_a_line_of_the_access_log(path):
    """Issue 26: `%0a` in a path forged a line in the replica's log. A property over any
    Unicode: what is logged of a path is one line of printable text, at most 203 characters,
    from which the path can be told (its start, escaped)."""
    shown = printable(path)
    assert len(shown.splitlines()) == 1 and shown.isprintable()
    assert len(shown) <= MAX_LOGGED_CHARS * 10 + 3  # each character at most one escape
    assert shown.startswith(printable(path[:1]))


def test_a_path_with_a_line_break_is_logged_on_one_line(caplog):
    app = _app(access_log="access.log")
    with caplog.at_level(logging.INFO, logger=access_logger.name):
        _send(app, "GET", "/%0a2026-12-06 forged GET / 200")
    (line,) = [r.getMessage() for r in caplog.records if r.name == access_logger.name]
    assert line.startswith("GET /\\n2026-12-06 forged GET / 200 404 ")


@pytest.mark.parametrize("query", ["threshold=0.9", "x", "inference.threshold=2"])
def test_query_parameters_are_refused_rather_than_ignored(query):
    answer = _send(_app(), "POST", f"/echo?{query}", content=b"{}", headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["detail"] == f"the service takes no query parameters (got {query!r})"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"title": "a", "title": "b", "description": "d"}', "title"),
        (
            '[{"title": "a", "description": "d"}, '
            '{"title": "b", "description": "d", "description": "e"}]',
            "description",
        ),
        ('{"title": "a", "description": "d", "x": {"k": 1, "k": 2}}', "k"),
    ],
)
def test_a_key_given_twice_is_a_422_naming_it(body, key):
    """Issue 26: duplicate JSON keys were taken silently (the last one won). Through the
    service's own application and error handler: the body is refused before any endpoint."""
    from madewithml.serving.app import app  # noqa: PLC0415

    answer = _send(app, "POST", "/predict", content=body.encode(), headers=JSON)
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["type"] == "json_invalid"
    assert problem["msg"] == f"JSON decode error: the key {key!r} is given twice"


def test_a_body_without_repeated_keys_is_read_as_json():
    app = FastAPI()
    app.router.route_class = UniqueKeysRoute

    @app.post("/echo")
    async def echo(body: dict) -> dict:
        return body

    answer = _send(app, "POST", "/echo", json={"a": {"b": [1, {"c": 2}]}, "d": None})
    assert answer.json() == {"a": {"b": [1, {"c": 2}]}, "d": None}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(tree=st.dictionaries(st.text(max_size=5), JSON_VALUES, min_size=1, max_size=4))
def test_json_reads_the_same_and_any_repeated_key_is_refused(tree):
    """A property: any JSON object reads as `json.loads` reads it; the same object with one of
    its keys given once more is refused, naming the key."""
    import json  # noqa: PLC0415

    from madewithml.serving.guard import _unique_keys  # noqa: PLC0415

    text = json.dumps(tree)
    assert json.loads(text, object_pairs_hook=_unique_keys) == tree
    key = next(iter(tree))
    repeated = "{" + json.dumps(key) + ": 0, " + text[1:]
    with pytest.raises(json.JSONDecodeError, match="is given twice"):
        json.loads(repeated, object_pairs_hook=_unique_keys)
