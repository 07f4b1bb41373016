"""Stored events as replies: decoded with the ledger's own transcoder, token hashes redacted,
timestamps in the configured zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Notification

from ledger.application import Ledger

from api.datetimes import zoned
from api.ops.schemas import EventOut

REDACTED_FIELDS = frozenset({"secret_hash", "pin_hash"})


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


def event(ledger: Ledger, n: Notification, zone: ZoneInfo) -> EventOut:
    """The stored state decoded with the ledger's own transcoder (token hashes redacted)."""
    mapper = ledger.mapper
    state = n.state
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    data = mapper.transcoder.decode(state)
    return EventOut(
        id=n.id,
        originator_id=n.originator_id,  # type: ignore[arg-type]
        originator_version=n.originator_version,
        topic=n.topic,
        data=_plain(data, zone),
    )
