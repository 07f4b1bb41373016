"""Filling a bench store in bulk, as the commands record it but many aggregates per save."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID


def register_volunteers(ledger: Any, homes: Sequence[UUID], at: datetime, *, per_save: int = 2000) -> list[UUID]:
    """One volunteer per entry of ``homes`` (named 志愿者000000, 志愿者000001, …), ``per_save``
    registrations to a transaction; returns their ids in order."""
    from ledger.domain import Volunteer

    ids: list[UUID] = []
    for start in range(0, len(homes), per_save):
        chunk = [
            Volunteer(name=f"志愿者{i:06d}", unit_id=homes[i], phone_last4=None, member_no=None, at=at)
            for i in range(start, min(start + per_save, len(homes)))
        ]
        ledger.save(*chunk)
        ids += [v.id for v in chunk]
    return ids
