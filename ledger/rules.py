"""Pure rules of the ledger: no I/O, no clock, no library. Table-tested in tests/unit."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from ledger.accounts import ACCOUNT_KINDS, ISSUING, MERCHANT, VOLUNTEER, Posting, account_kind, is_volunteer
from ledger.errors import InvalidAmount, InvalidRequest, NotReversible, UnitCycle, UnitKindNotAllowed

# A single posting above this is a typo or an attack, not a good deed.
MAX_POINTS_PER_POSTING = 1_000_000
MAX_MINUTES_PER_POSTING = 60 * 24 * 31

STREET, COMMUNITY, COMPOUND, BUILDING, STATION = "street", "community", "compound", "building", "station"
UNIT_KINDS = (STREET, COMMUNITY, COMPOUND, BUILDING, STATION)

# Which kind of unit may hang under which (None: a root).
ALLOWED_PARENTS: Mapping[str, frozenset[str | None]] = {
    STREET: frozenset({None}),
    COMMUNITY: frozenset({STREET}),
    COMPOUND: frozenset({COMMUNITY}),
    BUILDING: frozenset({COMPOUND}),
    STATION: frozenset({STREET, COMMUNITY, COMPOUND}),
}


def check_points(points: object, *, cap: int = MAX_POINTS_PER_POSTING) -> int:
    """A point amount is a positive integer no larger than the cap."""
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidAmount("points must be a whole number", points=repr(points))
    if points <= 0:
        raise InvalidAmount("points must be positive", points=points)
    if points > cap:
        raise InvalidAmount(f"points must be at most {cap}", points=points, cap=cap)
    return points


def check_minutes(minutes: object) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise InvalidAmount("minutes must be a whole number, zero or more", minutes=repr(minutes))
    if minutes > MAX_MINUTES_PER_POSTING:
        raise InvalidAmount(f"minutes must be at most {MAX_MINUTES_PER_POSTING}", minutes=minutes)
    return minutes


def check_postings(postings: Sequence[Posting]) -> None:
    """A transaction moves positive amounts between two different, known kinds of account."""
    if not postings:
        raise InvalidRequest("a transaction needs at least one posting")
    for p in postings:
        check_points(p.amount)
        if p.source == p.destination:
            raise InvalidRequest("a posting must move points between two different accounts")
        for acct in (p.source, p.destination):
            if account_kind(acct) not in ACCOUNT_KINDS:
                raise InvalidRequest(f"unknown account {acct!r}")


def net_deltas(postings: Iterable[Posting]) -> dict[str, int]:
    """Each account's net change; the values always sum to zero (double entry)."""
    deltas: dict[str, int] = defaultdict(int)
    for p in postings:
        deltas[p.source] -= p.amount
        deltas[p.destination] += p.amount
    return dict(deltas)


def guarded_deltas(postings: Iterable[Posting]) -> list[tuple[str, int]]:
    """The deltas the write side must check: volunteer accounts only, sorted so that
    concurrent writers touch rows in the same order."""
    return sorted((a, d) for a, d in net_deltas(postings).items() if is_volunteer(a) and d != 0)


def may_debit(balance: int, amount: int) -> bool:
    """A volunteer balance never goes below zero."""
    return amount > 0 and balance - amount >= 0


def earned_and_redeemed(account: str, posting: Posting) -> tuple[int, int]:
    """How a posting changes a volunteer's "earned" and "redeemed" figures.

    Earned is the net flow from issuing accounts (a reversed credit lowers it);
    redeemed is the net flow to merchants (a reversed redemption lowers it).
    """
    if posting.destination == account:
        other, sign = posting.source, 1
    elif posting.source == account:
        other, sign = posting.destination, -1
    else:
        return 0, 0
    kind = account_kind(other)
    if kind == ISSUING:
        return sign * posting.amount, 0
    if kind == MERCHANT:
        return 0, -sign * posting.amount
    return 0, 0


def reversal_of(postings: Sequence[Posting], kind: str) -> list[Posting]:
    """The compensating postings; a reversal itself is never reversed. A welfare-day batch's
    transactions are reversed through their batch (line by line, with minutes)."""
    if kind == "reversal":
        raise NotReversible("a reversal cannot be reversed")
    if kind in ("batch", "batch_reversal"):
        raise NotReversible("a batch transaction is reversed through its batch (POST /v1/batches/{id}/reversal)")
    return [p.reversed() for p in postings]


def check_unit_parent(kind: str, parent_kind: str | None) -> None:
    if kind not in UNIT_KINDS:
        raise UnitKindNotAllowed(f"unknown unit kind {kind!r}", kind=kind)
    if parent_kind not in ALLOWED_PARENTS[kind]:
        allowed = sorted(k or "none" for k in ALLOWED_PARENTS[kind])
        raise UnitKindNotAllowed(
            f"a {kind} cannot be placed under {parent_kind or 'nothing'}; allowed: {', '.join(allowed)}",
            kind=kind,
            parent_kind=parent_kind,
        )


def check_no_cycle(unit_id: UUID, new_parent_ancestry: Sequence[UUID]) -> None:
    """Moving a unit under one of its own descendants (or itself) would make a cycle.

    ``new_parent_ancestry`` is the new parent followed by its ancestors up to the root.
    """
    if unit_id in new_parent_ancestry:
        raise UnitCycle("a unit cannot be moved under itself or one of its descendants", unit_id=str(unit_id))


def within_scope(ancestry: Sequence[UUID], scope: Iterable[UUID]) -> bool:
    """A thing in a unit is in scope when the unit or one of its ancestors is a scope unit."""
    scope_set = set(scope)
    return any(u in scope_set for u in ancestry)


def fingerprint(payload: object) -> str:
    """A stable hash of a request, to tell a retry from a different request with the same key."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def minutes_for(account: str, postings: Iterable[Posting], minutes: int) -> int:
    """Minutes served follow the earned points: credited with a credit, taken back with
    its reversal, untouched by redemptions."""
    earned = sum(earned_and_redeemed(account, p)[0] for p in postings)
    return minutes if earned > 0 else -minutes if earned < 0 else 0


def check_text(value: object, field: str, *, max_length: int = 100, required: bool = True) -> str:
    """Names and memos: no control characters (a NUL cannot even be stored in PostgreSQL text),
    trimmed, within a length."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be text", field=field)
    text = value.strip()
    if required and not text:
        raise InvalidRequest(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise InvalidRequest(f"{field} must be at most {max_length} characters", field=field)
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise InvalidRequest(f"{field} must not contain control characters", field=field)
    return text


def check_phone_last4(value: str | None) -> str | None:
    if value is not None and not (len(value) == 4 and value.isascii() and value.isdigit()):
        raise InvalidRequest("phone_last4 must be exactly four digits", field="phone_last4")
    return value


def account_figures(postings: Sequence[Mapping[str, Any]], minutes: int) -> dict[str, list[Any]]:
    """Per account a transaction touches, in ONE pass over its postings (a welfare-day
    chunk has thousands): ``[net, earned, redeemed, minutes, partner, memo]``.

    Same figures as ``net_deltas`` + ``earned_and_redeemed`` + ``minutes_for``; ``partner`` is
    the single counterparty or "several". A posting may carry its own ``minutes`` (a batch
    line): they follow that posting's earned points, on top of the transaction's minutes; and
    its own ``memo``, which becomes the volunteer's memo (None: the transaction's memo).
    """
    out: dict[str, list[Any]] = {}
    for p in postings:
        src, dst, amount = p["source"], p["destination"], p["amount"]
        own = p.get("minutes", 0)
        for account, other, sign in ((dst, src, 1), (src, dst, -1)):
            row = out.get(account)
            if row is None:
                row = out[account] = [0, 0, 0, 0, other, None]
            elif row[4] != other:
                row[4] = "several"
            row[0] += sign * amount
            kind = account_kind(other)
            if kind == ISSUING:
                row[1] += sign * amount
                if own:
                    row[3] += sign * own
            elif kind == MERCHANT:
                row[2] -= sign * amount
            if row[5] is None and "memo" in p and is_volunteer(account):
                row[5] = p["memo"]
    for account, row in out.items():
        if not is_volunteer(account):
            row[3] = 0
        elif minutes:
            row[3] += minutes if row[1] > 0 else -minutes if row[1] < 0 else 0
    return out


def credit_figures(postings: Sequence[Mapping[str, Any]], minutes: int) -> dict[str, list[Any]] | None:
    """``account_figures`` for the shape of a welfare-day chunk (one issuing account crediting
    volunteers, no transaction-wide minutes) in a simpler pass, or None for any other shape.
    A chunk has thousands of postings, so this is on the path of every batch line."""
    if minutes or not postings:
        return None
    source = postings[0]["source"]
    if account_kind(source) != ISSUING:
        return None
    prefix = VOLUNTEER + ":"
    out: dict[str, list[Any]] = {}
    total = 0
    for p in postings:
        dst, amount = p["destination"], p["amount"]
        if p["source"] != source or not dst.startswith(prefix):
            return None
        total += amount
        row = out.get(dst)
        if row is None:
            out[dst] = [amount, amount, 0, p.get("minutes", 0), source, p.get("memo")]
        else:
            row[0] += amount
            row[1] += amount
            row[3] += p.get("minutes", 0)
            if row[5] is None:
                row[5] = p.get("memo")
    out[source] = [-total, 0, 0, 0, next(iter(out)) if len(out) == 1 else "several", None]
    return out
