"""What each kind of code does when a volunteer scans it: ``create_app`` hands the scans router
its table of kinds to these handlers; a kind with no handler is refused as ``code_invalid`` (a
pay code, for instance, is for merchants to scan, not volunteers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from projections import alliance as alliance_reads

from api.activities.views import attendance
from api.alliance import views as alliance_views
from api.alliance.schemas import ScanMerchant
from api.auth import Principal
from api.context import Services
from api.scans.schemas import ScanActivity, ScanIn, ScanOut


@dataclass(frozen=True)
class Scan:
    """Everything a handler gets: who scans, what the code says, and the request."""

    services: Services
    principal: Principal
    volunteer_id: UUID  # the scanning volunteer (their token names them)
    kind: str
    fields: dict[str, Any]
    body: ScanIn
    zone: ZoneInfo
    idempotency_key: str | None


ScanHandler = Callable[[Scan], ScanOut]


def activity_scan(s: Scan) -> ScanOut:
    """Check in or out. A repeat within the grace period is the same scan (``replayed``), so
    retries are safe with or without an ``Idempotency-Key``."""
    r = s.services.attendance.scan(s.fields, s.volunteer_id, expected_activity=s.body.activity_id)
    return ScanOut(
        kind="activity",
        action=r.action,
        replayed=r.replayed,
        activity=ScanActivity(id=r.activity.id, title=r.activity.title),
        attendance=attendance(r.attendance, s.zone),
    )


def merchant_scan(s: Scan) -> ScanOut:
    """Scanning a till's code starts a payment: the reply shows the shop and its open offers;
    the volunteer confirms with POST /v1/me/payments."""
    alliance = s.services.alliance
    merchant = alliance.read_merchant_code(s.body.code)
    now = alliance.clock.now()
    rows = alliance_reads.offers(s.services.db, str(merchant.id), after=None, limit=200)
    offers = [alliance_views.offer(r, now, s.zone) for r in rows]
    return ScanOut(
        kind="merchant", action="pay", replayed=False,
        merchant=ScanMerchant(
            id=merchant.id, name=merchant.name, address=merchant.address, code=s.body.code,
            offers=[o for o in offers if o.available],
        ),
    )

