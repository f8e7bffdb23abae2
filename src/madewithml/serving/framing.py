"""HTTP framing limits of the service's front door, Ray Serve's HTTP proxy (uvicorn +
httptools): what the ASGI app never sees because it happens before a request is whole.

- **Head size and count**: a request whose target and header fields pass `max_header_bytes`
  (counted as sent in canonical form: the target, and `name: value\r\n` per field), or that
  has more than `max_headers` fields, gets 431 as soon as the limit is passed. An unfinished
  head is never held beyond `max_header_bytes + HEAD_SLACK_BYTES` raw bytes (the request line,
  line ends and spaces around values), so the rest is not read into memory.
- **Slow or idle clients** (slowloris): a connection sends its whole head within
  `header_timeout_s` of connecting (or of starting its next request), and its body within
  `body_timeout_s` of the head; else 408 and the connection is closed. Idle keep-alive
  connections go after Ray's `keep_alive_timeout_s`.
- **Connections**: at most `max_connections` are open. At the limit a new connection takes the
  place of the one that has waited longest without a request in progress (idle, keep-alive or
  still sending its head), which gets 503 and is closed; only when every connection has a
  request in progress does the new one get 503. So a flood of idle connections can neither take
  the proxy's open files nor keep a new client out.

A refused connection gets a one-line JSON answer (`{"detail": ...}`, as the app's errors),
`Connection: close`, then a half-close; what the client still sends (up to `LINGER_BYTES`) is
read and dropped for `LINGER_S`, so that a client that sends the rest of its request reads the
answer rather than a reset, and one that goes on sending is no longer read. A connection that
had sent nothing of a request (an idle one making room) is closed at once, and at most
`MAX_LINGERING` linger at a time, so that refused connections hold few open files.

Ray Serve does not expose uvicorn's protocol, so `kedro serve` hands these limits to the proxy
process through Ray's own hook for it: `RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH` names
`install_from_environment`, which the proxy calls before it starts its server, and which makes
this protocol uvicorn's `auto` one in that process (`proxy_environment`). Only a Ray that
`kedro serve` starts gets them: a cluster's nodes need the two variables when they start
(`python -m madewithml.serving.framing conf/base/serving.yml` prints them; `make cluster-up`
uses it; docs/serving.md#http-limits).
"""

import asyncio
import json
import logging
import os
import sys
from collections import OrderedDict
from http import HTTPStatus
from typing import ClassVar

import httptools
import yaml
from uvicorn import config as uvicorn_config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from madewithml.serving.schemas import HttpLimits

logger = logging.getLogger(__name__)

# The variables that carry the limits into Ray Serve's proxy process.
CALLBACK_VARIABLE = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
LIMITS_VARIABLE = "MADEWITHML_HTTP_LIMITS"
CALLBACK = "madewithml.serving.framing:install_from_environment"  # this module's, when run too
# Ray Serve's controller restarts a proxy after three failed health checks this far apart.
HEALTH_CHECK_VARIABLE = "RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S"
# Seconds a refused connection's further bytes are read and dropped before it is closed.
LINGER_S = 1.0
LINGER_BYTES = 65536
MAX_LINGERING = 100  # refused connections lingering at once (per proxy); the others close at once
# Raw bytes an unfinished head may hold beyond `max_header_bytes`: its request line's method and
# version, line ends and spaces around values, which the limit does not count.
HEAD_SLACK_BYTES = 1024


class Refused(Exception):
    """A request refused before it reached the app: its status and the reason given."""

    def __init__(self, status: HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def answer(status: HTTPStatus, detail: str) -> bytes:
    """The raw HTTP/1.1 response that refuses a request and closes its connection."""
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of `limits` (set on a subclass by
    `protocol_with`)."""

    limits: ClassVar[HttpLimits]
    # The connections without a request in progress, longest waiting first, and the refused
    # ones lingering (per server: `protocol_with` gives each class its own).
    waiting: ClassVar[OrderedDict]
    lingering: ClassVar[set]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._dropped = 0  # bytes read and dropped since the connection was refused
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes: int | None = 0  # raw bytes of the head being read; None: not in one
        self._head_size = 0  # the head's target and fields as the limit counts them
        self._header_count = 0

    # Connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._evict_one():
            self.transport = transport
            self._refuse(
                Refused(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"the service's {self.limits.max_connections} connections all have a "
                    "request in progress: retry later",
                )
            )
            return
        super().connection_made(transport)
        self.waiting[self] = None
        self._arm(self.limits.header_timeout_s, "header")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        if self._refused:
            self.connections.discard(self)
            return
        super().connection_lost(exc)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest without a request in progress, to
        make room; False when there is none."""
        while self.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            if not oldest._refused and not oldest.transport.is_closing():
                oldest._refuse(
                    Refused(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        "closed to make room for a new connection: the service holds "
                        f"{self.limits.max_connections} connections, its limit",
                    ),
                    # Nothing of a request unread (idle, or between requests): closed at once.
                    linger=bool(oldest._head_bytes),
                )
                return True
        return False

    def data_received(self, data: bytes) -> None:
        if self._refused:  # read and dropped while the connection lingers
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.pause_reading()
            return
        self._unset_keepalive_if_required()
        if self._head_bytes is not None:
            self._head_bytes += len(data)
            if self._deadline is None:
                self._arm(self.limits.header_timeout_s, "header")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, Refused):
                self._refuse(error.__context__)
            else:
                self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
        if (
            self._head_bytes is not None
            and self._head_bytes > self.limits.max_header_bytes + HEAD_SLACK_BYTES
        ):
            self._refuse(self._head_too_large())

    # Parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = self._header_count = 0
        if self._head_bytes is None:  # a pipelined request begins in the last one's bytes
            self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise Refused(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"more than {self.limits.max_headers} header fields",
            )
        self._grow(len(name) + len(value) + 4)  # name: value\r\n
        super().on_header(name, value)

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            raise self._head_too_large()

    def _head_too_large(self) -> Refused:
        return Refused(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"the request target and headers are over {self.limits.max_header_bytes} bytes",
        )

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self.waiting.pop(self, None)  # a request in progress
        self._disarm()
        self._arm(self.limits.body_timeout_s, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._head_bytes = 0  # the next request's head, if any, starts here
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.waiting[self] = None  # idle on keep-alive (not a pipelined request's start)

    # Refusals ---------------------------------------------------------------------------

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expire, part)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, part: str) -> None:
        """The head or body did not arrive in time."""
        self._deadline = None
        if self._refused or self.transport.is_closing():
            return
        seconds = self.limits.header_timeout_s if part == "header" else self.limits.body_timeout_s
        self._refuse(Refused(HTTPStatus.REQUEST_TIMEOUT, f"no whole request {part} in {seconds} s"))

    def _invalid(self) -> None:
        self._refuse(Refused(HTTPStatus.BAD_REQUEST, "invalid HTTP request"))

    def _refuse(self, refusal: Refused, linger: bool = True) -> None:
        """Answer `refusal`, half-close, drop what still comes and close after `LINGER_S` (at
        once when not `linger`, or when `MAX_LINGERING` connections already linger)."""
        self._refused = True
        self._disarm()
        self.connections.discard(self)
        self.waiting.pop(self, None)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() says the client has gone
            self.cycle.message_event.set()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(answer(refusal.status, refusal.detail))
        if not linger or len(self.lingering) >= MAX_LINGERING:
            transport.close()
            return
        if transport.can_write_eof():
            transport.write_eof()
        self.lingering.add(self)
        asyncio.get_running_loop().call_later(LINGER_S, self._close_lingering)

    def _close_lingering(self) -> None:
        self.lingering.discard(self)
        self.transport.close()


def protocol_with(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class that applies `limits`."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "waiting": OrderedDict(), "lingering": set()},
    )


def proxy_environment(limits: HttpLimits) -> dict[str, str]:
    """The variables that make a Ray started with them apply `limits` in its Serve proxy, and
    restart a proxy that died after `limits.proxy_health_check_period_s` × 3."""
    return {
        CALLBACK_VARIABLE: CALLBACK,
        LIMITS_VARIABLE: limits.model_dump_json(),
        HEALTH_CHECK_VARIABLE: str(limits.proxy_health_check_period_s),
    }


def install_from_environment() -> list:
    """Ray Serve's proxy callback: make uvicorn's `auto` protocol in this process the limited
    one, with the limits of `LIMITS_VARIABLE`. Returns no middleware (Ray's contract)."""
    limits = HttpLimits.model_validate_json(os.environ[LIMITS_VARIABLE])
    # uvicorn imports a string and takes a class as it is (uvicorn.importer.import_from_string).
    uvicorn_config.HTTP_PROTOCOLS["auto"] = protocol_with(limits)  # type: ignore[assignment]
    logger.info("HTTP limits of the proxy: %s", limits.model_dump())
    return []


def main(serving_yml: str) -> None:
    """Print `proxy_environment` of the `serving.http` limits in `serving_yml`, one `NAME=value`
    per line (for `env $(...) ray start`)."""
    with open(serving_yml, encoding="utf-8") as file:
        limits = HttpLimits.model_validate(yaml.safe_load(file)["serving"]["http"])
    for name, value in proxy_environment(limits).items():
        sys.stdout.write(f"{name}={value}\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
