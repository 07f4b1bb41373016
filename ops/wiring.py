"""The one place where everything is built and connected (nothing is built at import)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from api.commands import CommandLog
from api.context import Services
from api.instrumented import LoggedAlliance, LoggedAttendance, LoggedBatches, LoggedLedger
from ledger.application import Ledger
from ledger.batches.service import BatchService
from ledger.cards.service import Cards
from ledger.roster.service import RosterService
from ledger.activities.service import Attendance
from ledger.clock import Clock, SystemClock
from ledger.store import ledger_env
from merchants.application import Alliance
from ops.settings import Settings
from projections.base import Follower
from projections.db import Database
from projections.registry import all_projections

log = logging.getLogger(__name__)


def build_services(settings: Settings | None = None, *, clock: Clock | None = None) -> Services:
    settings = settings or Settings()
    clock = clock or SystemClock()
    ledger = Ledger(
        env=ledger_env(
            settings.database_url,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size * 2,
            create_tables=settings.create_tables,
        ),
        clock=clock,
        zone=settings.zone,
    )
    db = Database(settings.database_url, pool_size=settings.pool_size, read_urls=settings.read_urls)
    followers = [Follower(ledger, db, p) for p in all_projections(settings.timezone)]
    if settings.create_tables:
        for f in followers:
            f.setup()
    if settings.bootstrap_token is not None:
        ledger.issue_token("admin", "bootstrap", secret=settings.bootstrap_token.get_secret_value())
    alliance = Alliance(ledger, settings.signing_key(), settings.zone)
    attendance = Attendance(ledger, settings.signing_key(), grace=timedelta(seconds=settings.scan_grace_seconds), batching=settings.scan_batching)
    batches = BatchService(ledger, settings.var_dir / "batches")
    # Every command is logged and counted, whoever calls it (HTTP, the CLI, the demo, the batch
    # runner): the services handed out are wrapped once, here; among themselves they call the plain ones.
    commands = CommandLog()
    batches.on_chunk = commands.batch_chunk
    logged_ledger = logged(LoggedLedger, ledger, commands)
    return Services(
        settings=settings, clock=clock, ledger=logged_ledger, db=db, followers=followers,
        batches=logged(LoggedBatches, batches, commands), alliance=logged(LoggedAlliance, alliance, commands),
        attendance=logged(LoggedAttendance, attendance, commands), cards=Cards(ledger, settings.signing_key()),
        roster=RosterService(logged_ledger),  # its registrations are commands of the logged ledger
        commands=commands,
    )


T = TypeVar("T")


def logged(wrapper: Any, service: T, commands: CommandLog) -> T:
    """``service`` with its commands logged and counted (``api.instrumented``); the same interface."""
    return cast(T, wrapper(service, commands))


@dataclass
class ProjectionThreads:
    """Projection followers running in threads of this process until stopped."""

    followers: list[Follower]
    poll: float = 0.05
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "ProjectionThreads":
        for f in self.followers:
            t = threading.Thread(target=f.run, args=(self.stop_event,), kwargs={"poll": self.poll}, name=f"projection-{f.name}", daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=10)


def close_services(services: Services) -> None:
    services.batches.close()  # its runner threads first: they write through the ledger's journal
    services.db.close()
    services.ledger.close()
