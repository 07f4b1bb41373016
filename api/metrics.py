"""Prometheus metrics of one app (prometheus-client).

- requests by method, route template and status, and their latency;
- points credited / redeemed / reversed, scans and batch lines by outcome (counted by
  ``api.commands`` at the api/service boundary, and by a hook the batch runner calls:
  the ledger knows nothing of metrics);
- at scrape time: how far each projection is behind (events and seconds) and the
  connection pools' usage (PostgreSQL).

Each app has its own registry, so many apps can live in one process (tests). When
``PROMETHEUS_MULTIPROC_DIR`` is set (``moralbank serve --workers N`` sets it), counters and
histograms are written to files there and a scrape sums every worker's; the scrape-time
gauges are those of the worker that answers (pool gauges carry its ``pid``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import PersistenceError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.application import Ledger
from projections.base import Follower
from projections.db import Database


class Services(Protocol):
    """What the metrics read of ``api.context.Services`` (named here, so the command log that
    the services carry can count into these metrics without a circle of imports)."""

    ledger: Ledger
    db: Database
    followers: list[Follower]

# What a store that is down or unreachable raises, through either library.
STORE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, psycopg.Error, PersistenceError, OSError)

UNMATCHED = "<unmatched>"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The metrics of the app serving the current request (set by MetricsMiddleware), so the
# command log can count without every route taking the request.
CURRENT: ContextVar["Metrics | None"] = ContextVar("moralbank_metrics", default=None)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class ProjectionLag(Collector):
    """Lag in events (newest event id minus the projection's position) and in seconds (age of
    the oldest event the projection has yet to apply, by the wall clock: the event store
    stamps events with it)."""

    def __init__(self, services: Services, wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.services = services
        self.wall = wall
        self._stamps: dict[int, datetime] = {}  # notification id -> event timestamp (immutable)

    def _stamp_after(self, position: int) -> datetime | None:
        ledger = self.services.ledger
        found = ledger.recorder.select_notifications(position, 1, inclusive_of_start=False)
        if not found:
            return None
        n = found[0]
        if n.id not in self._stamps:
            if len(self._stamps) > 1000:
                self._stamps.clear()
            self._stamps[n.id] = ledger.mapper.to_domain_event(n).timestamp
        return self._stamps[n.id]

    def collect(self) -> Iterator[Metric]:
        try:
            head = self.services.ledger.max_notification_id()
            positions = {f.name: f.position() for f in self.services.followers}
            stamps = {name: (self._stamp_after(pos) if pos < head else None) for name, pos in positions.items()}
        except STORE_ERRORS:
            return
        now = self.wall()
        last = GaugeMetricFamily("moralbank_last_notification_id", "Id of the newest event in the ledger")
        last.add_metric([], head)
        yield last
        lag = GaugeMetricFamily("moralbank_projection_lag", "Events a projection has yet to apply", labels=["projection"])
        seconds = GaugeMetricFamily(
            "moralbank_projection_lag_seconds", "Age of the oldest event a projection has yet to apply (0 when caught up)",
            labels=["projection"],
        )
        for name, position in sorted(positions.items()):
            lag.add_metric([name], max(0, head - position))
            stamp = stamps[name]
            seconds.add_metric([name], max(0.0, (now - stamp).total_seconds()) if stamp is not None else 0.0)
        yield lag
        yield seconds


def _pools(services: Services) -> dict[str, Any]:
    """The psycopg pools of this process (none on SQLite)."""
    pools: dict[str, Any] = {}
    datastore = getattr(services.ledger.recorder, "datastore", None)
    if datastore is not None and hasattr(getattr(datastore, "pool", None), "get_stats"):
        pools["ledger"] = datastore.pool
    projections = getattr(services.db, "_pool", None)
    if projections is not None:
        pools["projections"] = projections
    return pools


class PoolUsage(Collector):
    GAUGES = (
        ("pool_max", "moralbank_pool_max_connections", "Most connections the pool may open"),
        ("pool_size", "moralbank_pool_connections", "Connections the pool holds (in use or idle)"),
        ("pool_available", "moralbank_pool_idle_connections", "Idle connections in the pool"),
        ("requests_waiting", "moralbank_pool_requests_waiting", "Callers waiting for a connection"),
    )

    def __init__(self, services: Services, *, pid: bool) -> None:
        self.services = services
        self.pid = str(os.getpid()) if pid else None

    def collect(self) -> Iterator[Metric]:
        pools = _pools(self.services)
        if not pools:
            return
        labels = ["pool", "pid"] if self.pid else ["pool"]
        stats = {name: pool.get_stats() for name, pool in pools.items()}

        def values(name: str) -> list[str]:
            return [name, self.pid] if self.pid else [name]

        for key, metric, doc in self.GAUGES:
            g = GaugeMetricFamily(metric, doc, labels=labels)
            for name, s in sorted(stats.items()):
                g.add_metric(values(name), s.get(key, 0))
            yield g
        c = CounterMetricFamily("moralbank_pool_requests", "Connections handed out by the pool", labels=labels)
        w = CounterMetricFamily("moralbank_pool_wait_seconds", "Time callers waited for a connection", labels=labels)
        for name, s in sorted(stats.items()):
            c.add_metric(values(name), s.get("requests_num", 0))
            w.add_metric(values(name), s.get("requests_wait_ms", 0) / 1000)
        yield c
        yield w


class Metrics:
    def __init__(self, services: Services) -> None:
        self.multiprocess = multiprocess_dir() is not None
        own = CollectorRegistry()  # where this app's counters live
        if self.multiprocess:
            # The exposition registry reads every worker's files instead of ``own``.
            self.registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.registry)
        else:
            self.registry = own
        self.requests = Counter(
            "moralbank_http_requests", "HTTP requests by method, route template and status",
            ["method", "route", "status"], registry=own,
        )
        self.latency = Histogram(
            "moralbank_http_request_duration_seconds", "HTTP request latency by method, route template and status",
            ["method", "route", "status"], registry=own,
        )
        self.points_credited = Counter(
            "moralbank_points_credited", "Points credited to volunteers (replays not counted), by how", ["via"], registry=own,
        )
        self.points_redeemed = Counter(
            "moralbank_points_redeemed", "Points volunteers spent at merchants (replays not counted), by how", ["via"],
            registry=own,
        )
        self.points_reversed = Counter(
            "moralbank_points_reversed", "Points moved back by reversals (replays not counted), by what was reversed",
            ["what"], registry=own,
        )
        self.scans = Counter(
            "moralbank_scans", "Scans by kind of code and outcome (checked_in, checked_out, replayed, pay, refused:<code>)",
            ["kind", "outcome"], registry=own,
        )
        self.batch_lines = Counter(
            "moralbank_batch_lines", "Welfare-day batch lines by outcome (credited, refused:<reason>)", ["outcome"],
            registry=own,
        )
        self.commands = Counter(
            "moralbank_commands", "Domain commands by name and outcome", ["command", "outcome"], registry=own,
        )
        self.rate_limited = Counter(
            "moralbank_rate_limited", "Requests refused with 429, by the limit that refused them", ["limit"], registry=own,
        )
        # One sample per live worker in multiprocess mode (a scrape shows how many answer).
        self.worker = Gauge("moralbank_worker_up", "1 per live API worker process", registry=own, multiprocess_mode="liveall")
        self.worker.set(1)
        self.registry.register(ProjectionLag(services))
        self.registry.register(PoolUsage(services, pid=self.multiprocess))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def batch_chunk(self, credited_lines: int, credited_points: int, refused_codes: list[str]) -> None:
        """The batch runner's hook: one recorded chunk (never called for a chunk another runner
        recorded, so a resumed batch is not counted twice)."""
        if credited_lines:
            self.batch_lines.labels("credited").inc(credited_lines)
            self.points_credited.labels("batch").inc(credited_points)
        for code in refused_codes:
            self.batch_lines.labels(f"refused:{code}").inc()

    def close(self) -> None:
        """A worker that stops leaves the live gauges (its files stay for the counters)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


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
        CURRENT.set(self.metrics)

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
