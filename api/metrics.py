"""Prometheus metrics of one app: requests by route template and status, their latency,
and how far each projection is behind. Each app has its own registry, so many apps can
live in one process (tests) without clashing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import psycopg
from eventsourcing.persistence import PersistenceError
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import Services

# What a store that is down or unreachable raises, through either library.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, psycopg.Error, PersistenceError, OSError)

UNMATCHED = "<unmatched>"


class ProjectionLag(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        try:
            head = self.services.ledger.max_notification_id()
            positions = {f.name: f.position() for f in self.services.followers}
        except STORE_ERRORS:
            return
        last = GaugeMetricFamily("moralbank_last_notification_id", "Id of the newest event in the ledger")
        last.add_metric([], head)
        yield last
        lag = GaugeMetricFamily("moralbank_projection_lag", "Events a projection has yet to apply", labels=["projection"])
        for name, position in sorted(positions.items()):
            lag.add_metric([name], max(0, head - position))
        yield lag


class Metrics:
    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moralbank_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moralbank_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(ProjectionLag(services))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)


class MetricsMiddleware:
    """Pure ASGI: the route template is known once the router has matched (scope["route"])."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)
