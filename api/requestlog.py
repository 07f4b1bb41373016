"""One JSON line per request, with a request id (taken from ``X-Request-ID`` when the client
sends a sane one, else made here, and echoed in the response). Never a token, a body or a
query string: those can carry secrets and personal data."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("moralbank.requests")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The current request's id, for the command log (route threads inherit the context).
REQUEST_ID: ContextVar[str | None] = ContextVar("moralbank_request_id", default=None)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):  # else (a bench server, a test) no line to build
                _line(scope, request_id, status, start)


def _line(scope: Scope, request_id: str, status: int, start: float) -> None:
    route = scope.get("route")
    log.info(
        json.dumps(
            {
                "event": "request",
                "request_id": request_id,
                "method": scope.get("method"),
                "route": getattr(route, "path", None) or "<unmatched>",
                "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 2),
            },
            separators=(",", ":"),
        )
    )
