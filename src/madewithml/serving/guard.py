"""The HTTP request guard (ASGI middleware): content type, body size whatever the framing, and
the request log line."""

import logging
import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from madewithml.serving.schemas import ServiceConfig

# One line per request (method, path, status, latency, projects) when `request_log` is on.
requests_log = logging.getLogger("madewithml.serving.requests")


class RequestGuard:
    """ASGI middleware: POST bodies must be JSON (415), at most `max_body_bytes` long whatever
    their framing (413, counted while the body streams in, so a chunked body is never read
    whole), and one log line per request when `request_log` is on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = getattr(scope["app"].state, "config", None)
        started, status = time.perf_counter(), {"code": 500}

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
            if config is not None and config.request_log:
                requests_log.info(
                    "%s %s %d %.1f ms projects=%s",
                    scope["method"],
                    scope["path"],
                    status["code"],
                    1000 * (time.perf_counter() - started),
                    scope.get("state", {}).get("projects", "-"),
                )

    @staticmethod
    def _refusal(scope: dict, config: ServiceConfig | None) -> tuple[int, str] | None:
        if scope["method"] != "POST" or config is None:
            return None
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" and not content_type.endswith(b"+json"):
            given = content_type.decode("latin-1") or "none"
            return 415, f"JSON is expected (Content-Type: application/json), not {given}"
        length = headers.get(b"content-length", b"")
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
