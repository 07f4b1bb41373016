"""What the API needs, built once at start-up by ``ops.wiring`` and handed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.application import Ledger
from ledger.batches.service import BatchService
from ledger.activities.service import Attendance
from ledger.clock import Clock
from merchants.application import Alliance
from ops.settings import Settings
from projections.base import Follower
from projections.db import Database


@dataclass
class Services:
    settings: Settings
    clock: Clock
    ledger: Ledger
    db: Database
    followers: list[Follower] = field(default_factory=list)
    batches: BatchService | None = None  # welfare-day batches (ops.wiring builds it)
    alliance: Alliance | None = None  # the merchant alliance (issue 6); built by ops.wiring
    attendance: Attendance | None = None  # activities and scans (issue 4); built by ops.wiring

    def catch_up(self) -> None:
        """Bring every projection up to date (tests, CLI, and read-your-writes on SQLite)."""
        for f in self.followers:
            f.catch_up()
