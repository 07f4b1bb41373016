"""Every projection of the system, by name."""

from __future__ import annotations

from projections.accounts import AccountsProjection
from projections.alliance import AllianceProjection
from projections.attendance import AttendanceProjection
from projections.base import Projection
from projections.directory import DirectoryProjection
from projections.leaderboards.projection import DEFAULT_ZONE, LeaderboardsProjection


def all_projections(zone: str = DEFAULT_ZONE) -> list[Projection]:
    """``zone``: where leaderboard periods are cut (MORALBANK_TIMEZONE)."""
    return [AccountsProjection(), DirectoryProjection(), AllianceProjection(), LeaderboardsProjection(zone), AttendanceProjection()]
