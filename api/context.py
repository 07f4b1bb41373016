"""What the API needs, built once at start-up by ``ops.wiring`` and handed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.activities.service import Attendance
from ledger.application import Ledger
from ledger.batches.service import BatchService
from ledger.cards.service import Cards
from ledger.clock import Clock
from ledger.roster.service import RosterService
from merchants.application import Alliance
from ops.settings import Settings
from projections.base import Follower
from projections.db import Database

if TYPE_CHECKING:
    from api.commands import CommandLog


@dataclass
class Services:
    """The application services are the wrapped ones (``api.instrumented``): every command
    they run is logged and counted in ``commands``."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    db: Database
    followers: list[Follower]
    batches: BatchService  # welfare-day batches
    alliance: Alliance  # the merchant alliance
    attendance: Attendance  # activities and scans
    cards: Cards  # member cards, PINs and sign-in links
    roster: RosterService  # roster imports (registrations through the logged ledger)
    commands: CommandLog

    def catch_up(self) -> None:
        """Bring every projection up to date (tests, CLI, and read-your-writes on SQLite)."""
        for f in self.followers:
            f.catch_up()
