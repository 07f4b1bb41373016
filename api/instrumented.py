"""The application services, each command logged and counted (``api.commands``): wrappers that
``ops.wiring`` puts around the Ledger, Attendance, the Alliance and the BatchService once, when it
builds them. HTTP routes, the CLI, the demo and the batch runner all call the wrapped services, so
every command leaves the same line and the same counts whoever calls it; the services themselves
(and the services they call each other through) are the plain ones and know nothing of this.

Everything that is not a command passes through unchanged, reads and writes of attributes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ledger.activities.rules import CREDITED
from ledger.activities.service import CHECK_IN, CHECK_OUT, ScanResult
from ledger.activities.service import CHECKED_OUT as ORGANIZER_CHECKED_OUT

from api.commands import CommandLog

SCAN_OUTCOMES = {CHECK_IN: "checked_in", CHECK_OUT: "checked_out"}


class Wrapped:
    """A service with some of its methods wrapped; the rest is the service's own."""

    def __init__(self, inner: Any, log: CommandLog) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "log", log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.inner, name, value)

    def __delattr__(self, name: str) -> None:
        # The service's own attribute again (what undoing a test's monkeypatch asks for).
        vars(self.inner).pop(name, None)


class LoggedLedger(Wrapped):
    def register_volunteer(self, name: str, unit_id: UUID, **kw: Any) -> Any:
        with self.log.command(
            "register_volunteer", unit_id=unit_id, phone_last4=kw.get("phone_last4"), member_no=kw.get("member_no")
        ) as c:
            volunteer = self.inner.register_volunteer(name, unit_id, **kw)
            c.done("registered", volunteer_id=volunteer.id)
        return volunteer

    def credit(self, key: str, unit_id: UUID, volunteer_id: UUID, points: int, *args: Any, **kw: Any) -> Any:
        with self.log.command("credit", unit_id=unit_id, volunteer_id=volunteer_id) as c:
            result = self.inner.credit(key, unit_id, volunteer_id, points, *args, **kw)
            c.done("credited", transaction_id=result.transaction.id)
            c.credited("credit", sum(p.amount for p in result.transaction.postings), replayed=result.replayed)
        return result

    def reverse(self, transaction_id: UUID, *args: Any, **kw: Any) -> Any:
        with self.log.command("reversal", transaction_id=transaction_id) as c:
            c.fields.setdefault("kind", self.inner.get_transaction(transaction_id).kind)
            result = self.inner.reverse(transaction_id, *args, **kw)
            c.done("reversed", reversal_id=result.transaction.id)
            c.reversed("transaction", sum(p.amount for p in result.transaction.postings), replayed=result.replayed)
        return result


class LoggedAttendance(Wrapped):
    def _scanned(self, scan: Any, volunteer_id: UUID) -> ScanResult:
        """A check-in or check-out: its outcome, and the points a check-out credited at once (not
        those waiting for approval, nor a replay's)."""
        with self.log.command("scan", kind="activity", volunteer_id=volunteer_id) as c:
            r: ScanResult = scan()
            c.done("replayed" if r.replayed else SCAN_OUTCOMES.get(r.action, r.action), activity_id=r.activity.id)
            if not r.replayed and r.action == CHECK_OUT and r.attendance.status == CREDITED:
                c.credited("scan", r.attendance.points)
        return r

    def scan(self, fields: dict[str, Any], volunteer_id: UUID, **kw: Any) -> ScanResult:
        return self._scanned(lambda: self.inner.scan(fields, volunteer_id, **kw), volunteer_id)

    def scan_code(self, code: str, volunteer_id: UUID, **kw: Any) -> ScanResult:
        return self._scanned(lambda: self.inner.scan_code(code, volunteer_id, **kw), volunteer_id)

    def scan_at(self, activity_id: UUID, volunteer_id: UUID, at: Any, **kw: Any) -> Any:
        """An organizer's scan (maybe offline): its outcome, where it came from, and the points a
        check-out credited at once (a correction's new figure is counted by its own outcome)."""
        with self.log.command(
            "organizer_scan", activity_id=activity_id, volunteer_id=volunteer_id, offline=kw.get("offline", False),
            device=kw.get("device", ""),
        ) as c:
            r = self.inner.scan_at(activity_id, volunteer_id, at, **kw)
            c.done(r.outcome)
            if r.outcome == ORGANIZER_CHECKED_OUT and r.attendance.status == CREDITED:
                c.credited("organizer_scan", r.attendance.points)
        return r

    def decide(self, activity_id: UUID, volunteer_ids: Sequence[UUID], approve: bool, **kw: Any) -> Any:
        with self.log.command("approval", activity_id=activity_id, decision="approve" if approve else "reject") as c:
            records = self.inner.decide(activity_id, volunteer_ids, approve, **kw)
            c.done("approved" if approve else "rejected", attendances=len(records))
            c.credited("approval", sum(r.points for r in records if r.status == CREDITED))
        return records

    def settle(self, activity_id: UUID, volunteer_ids: Sequence[UUID], **kw: Any) -> Any:
        with self.log.command("settlement", activity_id=activity_id) as c:
            records = self.inner.settle(activity_id, volunteer_ids, **kw)
            c.done("settled", attendances=len(records))
            c.credited("settlement", sum(r.points for r in records if r.status == CREDITED))
        return records


class LoggedAlliance(Wrapped):
    def issue_pay_code(self, volunteer_id: UUID) -> Any:
        with self.log.command("pay_code", volunteer_id=volunteer_id) as c:
            issued = self.inner.issue_pay_code(volunteer_id)
            c.done("issued")
        return issued

    def redeem(self, merchant_id: UUID, pay_code: object, **kw: Any) -> Any:
        with self.log.command("redemption", merchant_id=merchant_id, offer_id=kw.get("offer_id")) as c:
            result = self.inner.redeem(merchant_id, pay_code, **kw)
            c.done("redeemed", redemption_id=result.redemption.id, volunteer_id=result.redemption.volunteer_id)
            c.redeemed("redemption", result.redemption.points, replayed=result.replayed)
        return result

    def pay(self, volunteer_id: UUID, merchant_id: UUID, request_key: str, **kw: Any) -> Any:
        with self.log.command("payment", volunteer_id=volunteer_id, offer_id=kw.get("offer_id")) as c:
            result = self.inner.pay(volunteer_id, merchant_id, request_key, **kw)
            c.done("paid", merchant_id=merchant_id, redemption_id=result.redemption.id)
            c.redeemed("payment", result.redemption.points, replayed=result.replayed)
        return result

    def pay_by_card(self, merchant_id: UUID, card_code: object, pin: object, request_key: str, **kw: Any) -> Any:
        """Neither the card code nor the PIN goes into the line: the volunteer is named once known."""
        with self.log.command("card_payment", merchant_id=merchant_id, offer_id=kw.get("offer_id")) as c:
            result = self.inner.pay_by_card(merchant_id, card_code, pin, request_key, **kw)
            c.done("paid", redemption_id=result.redemption.id, volunteer_id=result.redemption.volunteer_id)
            c.redeemed("card_payment", result.redemption.points, replayed=result.replayed)
        return result

    def set_card_cap(self, unit_id: UUID, daily_cap: int, **kw: Any) -> Any:
        with self.log.command("card_cap", unit_id=unit_id, daily_cap=daily_cap) as c:
            cap = self.inner.set_card_cap(unit_id, daily_cap, **kw)
            c.done("set")
        return cap

    def reverse(self, redemption_id: UUID, **kw: Any) -> Any:
        with self.log.command("redemption_reversal", redemption_id=redemption_id) as c:
            result = self.inner.reverse(redemption_id, **kw)
            c.done("reversed")
            c.reversed("redemption", result.redemption.points, replayed=result.replayed)
        return result


class LoggedBatches(Wrapped):
    """Lines and their points are counted by the runner's hook (``CommandLog.batch_chunk``),
    chunk by chunk as recorded, so a batch resumed after a crash is not counted twice."""

    def submit(self, *args: Any, **kw: Any) -> Any:
        with self.log.command("batch", unit_id=kw.get("unit_id")) as c:
            submitted = self.inner.submit(*args, **kw)
            c.fields.update(batch_id=submitted.batch.id, lines=submitted.batch.lines_total)
            c.done("submitted" if submitted.created else "replayed")
        return submitted

    def reverse(self, batch_id: UUID, *args: Any, **kw: Any) -> Any:
        with self.log.command("batch_reversal", batch_id=batch_id) as c:
            result = self.inner.reverse(batch_id, *args, **kw)
            c.done("reversed", lines=len(result.reversed_lines), refused_lines=len(result.refused))
            c.reversed("batch", result.points)
        return result
