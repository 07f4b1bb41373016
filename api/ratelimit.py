"""Abuse limits: token buckets per access token on the routes a phone hammers (scans, pay
codes, redemptions), and a budget of failed attempts per client (a bad or revoked token
costs its IP address; a forged, expired or used code costs the token that sent it). A
refused request is answered with 429, problem code ``rate_limited`` and ``Retry-After``,
before any route work, so a burst of forgeries costs the server little and honest callers
keep being served.

The buckets live in this process (per worker with ``serve --workers N``: the effective
limit is N times the setting). Time is a monotonic seconds function, injected (tests move it).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops.settings import Settings

from api.metrics import CURRENT as CURRENT_METRICS
from api.problems import MEDIA_TYPE, PROBLEM_REF, TYPE_PREFIX, ProblemResponse

CODE = "rate_limited"
FAILURES = "failures"
# (method, path) -> the limit per token. Exact paths: these routes take no path parameters.
PER_TOKEN: dict[tuple[str, str], str] = {
    ("POST", "/v1/scans"): "scans",
    ("GET", "/v1/me/pay-code"): "pay_codes",
    ("POST", "/v1/redemptions"): "redemptions",
}
# Refusals that mean someone is guessing or replaying codes (charged to the token).
SUSPICIOUS_CODES = frozenset({"code_invalid", "code_expired", "code_wrong_activity", "code_used"})


class TokenBuckets:
    """``rate`` tokens a second up to ``burst``; a key with no bucket has a full one."""

    def __init__(self, per_minute: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def _wait(self, level: float) -> float:
        return (1.0 - level) / self.rate if self.rate > 0 else math.inf

    def take(self, key: str, now: float) -> float:
        """Spend one token: 0.0 when there was one, else the seconds until there will be."""
        with self._lock:
            level = self._level(key, now)
            if level < 1.0:
                self._buckets[key] = (level, now)
                return self._wait(level)
            self._store(key, level - 1.0, now)
            return 0.0

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token again (0.0 if it has one); spends nothing."""
        with self._lock:
            level = self._level(key, now)
            return 0.0 if level >= 1.0 else self._wait(level)

    def _store(self, key: str, level: float, now: float) -> None:
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            # Forget buckets that have refilled: a full bucket is the same as none.
            self._buckets = {k: v for k, v in self._buckets.items() if self._level(k, now) < self.burst}
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # under a flood of distinct keys, forget rather than grow
        self._buckets[key] = (level, now)


@dataclass(frozen=True)
class Client:
    """Who is calling, as the limits see it: the peer address and a hash of the bearer token
    (the token itself is never kept)."""

    ip: str
    token: str | None


CLIENT: ContextVar[Client | None] = ContextVar("moralbank_client", default=None)


def token_key(secret: str) -> str:
    return hashlib.blake2b(secret.encode(), digest_size=16).hexdigest()


class Limits:
    def __init__(self, settings: Settings, seconds: Callable[[], float] = time.monotonic) -> None:
        self.enabled = settings.rate_limits
        self.seconds = seconds
        self.per_token = {
            "scans": TokenBuckets(settings.rate_scans_per_minute, settings.rate_scans_burst),
            "pay_codes": TokenBuckets(settings.rate_pay_codes_per_minute, settings.rate_pay_codes_burst),
            "redemptions": TokenBuckets(settings.rate_redemptions_per_minute, settings.rate_redemptions_burst),
        }
        self.failures = TokenBuckets(settings.rate_failures_per_minute, settings.rate_failures_burst)

    def blocked(self, client: Client) -> float:
        """Seconds until a client that used up its failed attempts may try again."""
        now = self.seconds()
        waits = [self.failures.wait("ip:" + client.ip, now)]
        if client.token is not None:
            waits.append(self.failures.wait("token:" + client.token, now))
        return max(waits)

    def failed(self, client: Client, *, by_token: bool) -> None:
        key = "token:" + client.token if by_token and client.token is not None else "ip:" + client.ip
        self.failures.take(key, self.seconds())


def failed_attempt(code: str) -> None:
    """Charge a refused code to the calling token (called by the command log)."""
    if code not in SUSPICIOUS_CODES:
        return
    client = CLIENT.get()
    limits = _LIMITS.get()
    if client is not None and limits is not None and limits.enabled:
        limits.failed(client, by_token=True)


_LIMITS: ContextVar[Limits | None] = ContextVar("moralbank_limits", default=None)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return (secret.strip() or None) if scheme.lower() == "bearer" else None
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.limits
        if scope["type"] != "http" or not limits.enabled or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        secret = _bearer(scope)
        peer = scope.get("client")
        client = Client(peer[0] if peer else "unknown", token_key(secret) if secret else None)
        # The IP's failure budget only guards requests that present a token (failures are bad
        # tokens), so anonymous public reads from a shared address keep working.
        wait = limits.blocked(client) if secret else 0.0
        limit = FAILURES
        if not wait:
            limit = PER_TOKEN.get((scope["method"], scope["path"]), "")
            if limit and client.token is not None:
                wait = limits.per_token[limit].take(client.token, limits.seconds())
        if wait:
            await self._refuse(scope, receive, send, limit, wait)
            return
        CLIENT.set(client)
        _LIMITS.set(limits)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401 and secret:
                limits.failed(client, by_token=False)
            await send(message)

        await self.app(scope, receive, watch)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: str, wait: float) -> None:
        retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
        detail = (
            "too many failed attempts from this client; try again later"
            if limit == FAILURES
            else f"too many requests of this kind ({limit.replace('_', ' ')}) for this token; slow down"
        )
        metrics = CURRENT_METRICS.get()
        if metrics is not None:
            metrics.rate_limited.labels(limit).inc()
        body = {
            "type": TYPE_PREFIX + CODE, "title": "Too many requests", "status": 429, "detail": detail,
            "code": CODE, "instance": scope["path"], "limit": limit, "retry_after": retry_after,
        }
        response = ProblemResponse(body, status_code=429, headers={"Retry-After": str(retry_after)})
        await response(scope, receive, send)


RESPONSE_429: dict[str, Any] = {
    "description": "Too many requests from this token, or too many failed attempts from this client (`rate_limited`); "
    "`Retry-After` says when to try again",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
}


def document(app: FastAPI) -> None:
    """Every /v1 route can answer 429 (a client blocked for failed attempts is refused
    everywhere it presents a token)."""
    for rc in iter_route_contexts(app.routes):
        if isinstance(rc.original_route, APIRoute) and (rc.path or "").startswith("/v1/") and rc.include_in_schema:
            # The app's own (effective) copy of the route: the routers are shared module objects.
            rc.responses.setdefault(429, RESPONSE_429)
