"""Accounts are named, not stored: ``<kind>:<uuid hex>``.

A unit's issuing account is where points come from (its negative balance is what the unit
has issued); volunteers hold points; merchants receive them; a unit's expired account
receives the points of its lots that lapsed. Only volunteer accounts carry a write-time invariant
(never below zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

ISSUING = "issuing"
VOLUNTEER = "volunteer"
MERCHANT = "merchant"
EXPIRED = "expired"
ACCOUNT_KINDS = (ISSUING, VOLUNTEER, MERCHANT, EXPIRED)


def issuing_account(unit_id: UUID) -> str:
    return f"{ISSUING}:{unit_id.hex}"


def volunteer_account(volunteer_id: UUID) -> str:
    return f"{VOLUNTEER}:{volunteer_id.hex}"


def merchant_account(merchant_id: UUID) -> str:
    return f"{MERCHANT}:{merchant_id.hex}"


def expired_account(unit_id: UUID) -> str:
    return f"{EXPIRED}:{unit_id.hex}"


def account_kind(account: str) -> str:
    kind, _, _ = account.partition(":")
    return kind


def account_owner(account: str) -> UUID:
    _, _, owner = account.partition(":")
    return UUID(hex=owner)


def is_volunteer(account: str) -> bool:
    return account.startswith(VOLUNTEER + ":")


def parse_account(account: str) -> tuple[str, UUID]:
    """Raises ValueError for anything that is not a well-formed account name."""
    kind, sep, owner = account.partition(":")
    if not sep or kind not in ACCOUNT_KINDS:
        raise ValueError(f"not an account: {account!r}")
    return kind, UUID(hex=owner)


@dataclass(frozen=True)
class Posting:
    """Points moving from one account to another; the amount is a positive integer."""

    source: str
    destination: str
    amount: int

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "destination": self.destination, "amount": self.amount}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "Posting":
        return cls(str(d["source"]), str(d["destination"]), int(d["amount"]))  # type: ignore[call-overload]

    def reversed(self) -> "Posting":
        return Posting(self.destination, self.source, self.amount)
