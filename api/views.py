"""From aggregates, read-model rows and notifications to response bodies, with every
timestamp in the configured zone (RFC 3339 with offset)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Notification

from ledger.accounts import volunteer_account
from ledger.application import IssuedToken, Ledger
from ledger.domain import AccessToken, LedgerTransaction, Unit, Volunteer

from api import models

REDACTED_FIELDS = frozenset({"secret_hash"})


def zoned(dt: datetime, zone: ZoneInfo) -> datetime:
    try:
        return dt.astimezone(zone)
    except OverflowError:  # at the edge of the calendar (stored before api.datetimes bounded input)
        return dt


def from_row_time(text: str, zone: ZoneInfo) -> datetime:
    """Read models store UTC text like ``2026-11-02T01:00:00.000000Z``."""
    return zoned(datetime.fromisoformat(text), zone)


def unit_ref(unit: Unit) -> models.UnitRef:
    return models.UnitRef(id=unit.id, name=unit.name, kind=unit.kind)


def unit(ledger: Ledger, u: Unit, children: list[dict[str, Any]], zone: ZoneInfo) -> models.UnitOut:
    ancestors = [unit_ref(ledger.get_unit(a)) for a in ledger.unit_ancestry(u.id)[1:]]
    return models.UnitOut(
        id=u.id,
        name=u.name,
        kind=u.kind,
        parent_id=u.parent_id,
        created_at=zoned(u.created_at, zone),
        ancestors=ancestors,
        children=[models.UnitRef(id=UUID(c["id"]), name=c["name"], kind=c["kind"]) for c in children],
    )


def token(t: AccessToken, zone: ZoneInfo) -> models.TokenOut:
    return models.TokenOut(
        id=t.id,
        role=t.role,
        name=t.name,
        unit_ids=list(t.unit_ids),
        subject_id=t.subject_id,
        hint=t.hint,
        issued_at=zoned(t.issued_at, zone),
        revoked_at=zoned(t.revoked_at, zone) if t.revoked_at else None,
        active=t.active,
    )


def issued(i: IssuedToken, zone: ZoneInfo) -> models.IssuedTokenOut:
    return models.IssuedTokenOut(**token(i.token, zone).model_dump(), secret=i.secret)


def volunteer(v: Volunteer, zone: ZoneInfo) -> models.VolunteerOut:
    return models.VolunteerOut(
        id=v.id,
        name=v.name,
        unit_id=v.unit_id,
        phone_last4=v.phone_last4,
        member_no=v.member_no,
        registered_at=zoned(v.registered_at, zone),
    )


def account(volunteer_id: UUID, figures: dict[str, int]) -> models.AccountOut:
    return models.AccountOut(account=volunteer_account(volunteer_id), **figures)


def entry(row: dict[str, Any], zone: ZoneInfo) -> models.EntryOut:
    return models.EntryOut(
        seq=int(row["seq"]),
        transaction_id=UUID(row["transaction_id"]),
        kind=row["kind"],
        amount=int(row["amount"]),
        balance_after=int(row["balance_after"]),
        counterparty=row["counterparty"],
        minutes=int(row["minutes"]),
        memo=row["memo"],
        at=from_row_time(row["at"], zone),
        reverses=UUID(row["reverses"]) if row["reverses"] else None,
    )


def transaction(t: LedgerTransaction, zone: ZoneInfo) -> models.TransactionOut:
    return models.TransactionOut(
        id=t.id,
        kind=t.kind,
        postings=[models.PostingOut(source=p.source, destination=p.destination, amount=p.amount) for p in t.postings],
        minutes=t.minutes,
        memo=t.memo,
        actor=t.actor,
        unit_id=t.unit_id,
        reverses=t.reverses,
        reversed_by=t.reversed_by,
        at=zoned(t.at, zone),
    )


def _plain(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return zoned(value, zone).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: None if k in REDACTED_FIELDS else _plain(v, zone) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, zone) for v in value]
    return value


def event(ledger: Ledger, n: Notification, zone: ZoneInfo) -> models.EventOut:
    """The stored state decoded with the ledger's own transcoder (token hashes redacted)."""
    mapper = ledger.mapper
    state = n.state
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    data = mapper.transcoder.decode(state)
    return models.EventOut(
        id=n.id,
        originator_id=n.originator_id,  # type: ignore[arg-type]
        originator_version=n.originator_version,
        topic=n.topic,
        data=_plain(data, zone),
    )
