"""One JSON line per domain command (credit, reversal, scan, redemption, batch, …) with the
request id, and the domain counters of ``api.metrics``. They are written around the application
services (``api.instrumented``, applied once by ``ops.wiring``), so a command is logged and counted
the same whether HTTP, the CLI, the demo or the batch runner calls it: the ledger knows nothing
of either.

A service wrapper runs its call inside a command::

    with log.command("credit", unit_id=...) as c:
        result = ledger.credit(...)
        c.done("credited", transaction_id=result.transaction.id)
        c.credited("credit", points, replayed=result.replayed)

Commands nest: a route that is more than one service call (a scan reads the code, then the
handler of its kind calls a service) opens the command itself, and the service wrappers it calls
add their outcome, fields and points to that one line instead of writing their own.

A refusal (a ledger error or an API problem) is logged and counted as ``refused:<code>``, charged
to the calling client's failed attempts during an HTTP request (``api.ratelimit``) and re-raised;
points count only when the command recorded them (a replay of an idempotent request moved
nothing, so it is logged as ``replayed`` and not counted). Lines never carry a token, a code or a
full phone number: fields named like secrets are dropped, and digit runs long enough to be a
phone number are masked to their last four digits.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from ledger.errors import LedgerError

from api import ratelimit
from api.metrics import CURRENT as CURRENT_METRICS
from api.metrics import Metrics
from api.problems import Problem, ledger_mapping
from api.requestlog import REQUEST_ID

log = logging.getLogger("moralbank.commands")

SECRET_FIELDS = frozenset({"token", "secret", "code", "pay_code", "merchant_code", "card_code", "authorization", "password", "pin", "new_pin", "current_pin"})
_PHONE = re.compile(r"\+?\d[\d -]{5,}\d")


def mask_phone(text: str) -> str:
    """``13812345678`` -> ``*******5678``: a run of 7+ digits keeps only its last four."""

    def mask(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return m.group(0) if len(digits) < 7 else "*" * (len(digits) - 4) + digits[-4:]

    return _PHONE.sub(mask, text)


def _clean(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def refusal_code(exc: BaseException) -> str | None:
    if isinstance(exc, Problem):
        return exc.code
    if isinstance(exc, LedgerError):
        try:
            return ledger_mapping(exc)[1]
        except LookupError:
            return None
    return None


class Command:
    def __init__(self, name: str, fields: dict[str, Any], metrics: Metrics | None) -> None:
        self.name = name
        self.fields = fields
        self.metrics = metrics
        self.outcome = "done"
        self._counts: list[tuple[Any, str, int]] = []

    def done(self, outcome: str, **fields: Any) -> None:
        self.outcome = outcome
        self.fields.update(fields)

    def _points(self, counter_name: str, label: str, points: int, replayed: bool) -> None:
        if replayed:
            self.outcome = "replayed"
            return
        self.fields["points"] = self.fields.get("points", 0) + points
        if self.metrics is not None and points:
            self._counts.append((getattr(self.metrics, counter_name), label, points))

    def credited(self, via: str, points: int, *, replayed: bool = False) -> None:
        self._points("points_credited", via, points, replayed)

    def redeemed(self, via: str, points: int, *, replayed: bool = False) -> None:
        self._points("points_redeemed", via, points, replayed)

    def reversed(self, what: str, points: int, *, replayed: bool = False) -> None:
        self._points("points_reversed", what, points, replayed)

    def finish(self, seconds: float) -> None:
        for counter, label, points in self._counts:
            counter.labels(label).inc(points)
        if self.metrics is not None:
            self.metrics.commands.labels(self.name, self.outcome.split(":")[0]).inc()
            if self.name == "scan":
                self.metrics.scans.labels(str(self.fields.get("kind", "unknown")), self.outcome).inc()
        if log.isEnabledFor(logging.INFO):
            line = {
                "event": "command", "command": self.name, "outcome": self.outcome,
                "request_id": REQUEST_ID.get(), "ms": round(seconds * 1000, 2),
            }
            for key, value in self.fields.items():
                if key.lower() not in SECRET_FIELDS:
                    line.setdefault(key, _clean(value))
            log.info(json.dumps(line, separators=(",", ":"), default=str))


_OPEN: ContextVar[Command | None] = ContextVar("moralbank_command", default=None)


class CommandLog:
    """Where commands are logged and counted: the metrics of the app serving the current request,
    else those of the app serving this process (``create_app`` hands them over), else none (the
    CLI: logged only)."""

    def __init__(self) -> None:
        self.metrics: Metrics | None = None

    def _metrics(self) -> Metrics | None:
        return CURRENT_METRICS.get() or self.metrics

    @contextmanager
    def command(self, name: str, **fields: Any) -> Iterator[Command]:
        outer = _OPEN.get()
        if outer is not None:  # part of a command already open: its line says what happened
            for key, value in fields.items():
                outer.fields.setdefault(key, value)
            yield outer
            return
        c = Command(name, fields, self._metrics())
        token = _OPEN.set(c)
        start = time.perf_counter()
        try:
            yield c
        except (LedgerError, Problem) as e:
            code = refusal_code(e) or type(e).__name__
            c.outcome = f"refused:{code}"
            c._counts.clear()  # noqa: SLF001  (nothing was recorded)
            ratelimit.failed_attempt(code)
            c.finish(time.perf_counter() - start)
            raise
        finally:
            _OPEN.reset(token)
        c.finish(time.perf_counter() - start)

    def batch_chunk(self, batch_id: UUID, chunk_no: int, credited_lines: int, credited_points: int, refused_codes: list[str]) -> None:
        """The batch runner's hook (``BatchService.on_chunk``): count and log each chunk it records."""
        metrics = self._metrics()
        if metrics is not None:
            metrics.batch_chunk(credited_lines, credited_points, refused_codes)
        if log.isEnabledFor(logging.INFO):
            refused: dict[str, int] = {}
            for code in refused_codes:
                refused[code] = refused.get(code, 0) + 1
            log.info(json.dumps({
                "event": "command", "command": "batch_chunk", "outcome": "recorded", "request_id": REQUEST_ID.get(),
                "batch_id": str(batch_id), "chunk": chunk_no, "credited_lines": credited_lines,
                "points": credited_points, "refused": refused,
            }, separators=(",", ":")))
