"""The HTTP request guard (ASGI middleware): content type, body size whatever the framing, no
query parameters, and the access log: one line per request, written to a file by a background
thread. And JSON bodies without a key given twice (`UniqueKeysRoute`)."""

import atexit
import json
import logging
import queue
import time
import unicodedata
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from madewithml.serving.schemas import ServiceConfig

# One line per request (method, path, status, latency, projects) when `access_log` names a file.
access_logger = logging.getLogger("madewithml.serving.access")


def log_access_to(path: str | Path) -> QueueListener | None:
    """Append `access_logger`'s lines to the file `path` (its folder made if need be). A request
    only puts its line on a queue; a background thread writes them, so no request waits for the
    disk, and nothing goes through Ray's log pipeline to the driver's console (which cost ~14 ms
    of CPU per request at concurrency 32, docs/benchmarks.md#serving). Lines still queued at
    exit are written then. Once per process: a second call changes nothing (and returns None);
    the first returns the thread that writes."""
    if access_logger.handlers:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    lines: queue.SimpleQueue = queue.SimpleQueue()
    listener = QueueListener(lines, handler)
    listener.start()
    atexit.register(listener.stop)  # flushes what is queued
    access_logger.addHandler(QueueHandler(lines))
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False
    return listener


MAX_LOGGED_CHARS = 200


def printable(text: str) -> str:
    """`text` for one log line: control, format and separator characters other than the space
    written as escapes (`\\n`, `\\x00`, `\\u2028`), so that a request cannot forge or break
    a line of the log; at most `MAX_LOGGED_CHARS` characters kept."""
    shown = text[:MAX_LOGGED_CHARS]
    escaped = "".join(
        char
        if char == " " or unicodedata.category(char)[0] not in ("C", "Z")
        else char.encode("unicode_escape").decode("ascii")
        for char in shown
    )
    return escaped + ("..." if len(text) > MAX_LOGGED_CHARS else "")


class RequestGuard:
    """ASGI middleware: POST bodies must be JSON (415; a POST without a body needs no type),
    at most `max_body_bytes` long whatever their framing (413, counted while the body streams
    in, so a chunked body is never read whole), and one log line per request when `access_log`
    is on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = getattr(scope["app"].state, "config", None)
        started, status = time.perf_counter(), {"code": 500}
        # The request's marks (madewithml.serving.timings): the endpoint adds its own.
        marks = scope.setdefault("state", {}).setdefault("marks", {"received": started})

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope, config)
            if refusal:
                await JSONResponse(status_code=refusal[0], content={"detail": refusal[1]})(
                    scope, receive, send_and_note
                )
                return
            await self.app(scope, self._limited(receive, config), send_and_note)
        finally:
            marks["sent"] = time.perf_counter()
            stats = getattr(scope["app"].state, "stats", None)
            if stats is not None:
                stats.record(marks)
            if config is not None and config.access_log is not None:
                access_logger.info(
                    "%s %s %d %.1f ms projects=%s",
                    scope["method"],
                    printable(scope["path"]),
                    status["code"],
                    1000 * (time.perf_counter() - started),
                    scope.get("state", {}).get("projects", "-"),
                )

    @staticmethod
    def _refusal(scope: dict, config: ServiceConfig | None) -> tuple[int, str] | None:
        if scope["method"] != "POST" or config is None:
            return None
        if scope.get("query_string"):  # e.g. ?threshold=0.9, which would be ignored
            given = printable(scope["query_string"].decode("latin-1"))
            return 400, f"the service takes no query parameters (got {given!r})"
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        bodiless = length in (b"", b"0") and b"transfer-encoding" not in headers
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        json_type = content_type == b"application/json" or content_type.endswith(b"+json")
        if not json_type and not bodiless:  # a POST without a body (POST /reload) has no type
            given = content_type.decode("latin-1") or "none"
            return 415, f"JSON is expected (Content-Type: application/json), not {given}"
        limit = config.limits.max_body_bytes
        if length.isdigit() and int(length) > limit:
            return 413, f"request body of {int(length)} bytes is over the {limit}-byte limit"
        return None

    @staticmethod
    def _limited(receive: Any, config: ServiceConfig | None) -> Any:
        if config is None:
            return receive
        limit, received = config.limits.max_body_bytes, 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # FastAPI answers an HTTPException raised while reading
                    raise HTTPException(
                        status_code=413, detail=f"request body over the {limit}-byte limit"
                    )
            return message

        return limited_receive


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (JSON allows it; which one counts is up to
    the parser, and Python's takes the last)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise json.JSONDecodeError(f"the key {printable(key)!r} is given twice", "", 0)
        seen.add(key)
    return dict(pairs)


class UniqueKeysRequest(Request):
    """A request whose JSON body may not give a key twice: FastAPI answers 422 naming it."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), object_pairs_hook=_unique_keys)
        return self._json


class UniqueKeysRoute(APIRoute):
    """The route class of the service (`app.router.route_class`): its endpoints read JSON
    bodies through `UniqueKeysRequest`."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def unique_keys_handler(request: Request) -> Any:
            return await handler(UniqueKeysRequest(request.scope, request.receive))

        return unique_keys_handler
