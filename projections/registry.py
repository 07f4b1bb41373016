"""Every projection of the system, by name."""

from __future__ import annotations

from projections.accounts import AccountsProjection
from projections.alliance import AllianceProjection
from projections.base import Projection
from projections.directory import DirectoryProjection


def all_projections() -> list[Projection]:
    return [AccountsProjection(), DirectoryProjection(), AllianceProjection()]
