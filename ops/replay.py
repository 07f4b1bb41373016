"""One pass over raw stored events that checks the log's own invariants, with no database and
no domain objects: for ``moralbank verify`` (over the store's rows, read in pages with SQL) and
``moralbank verify --file`` (over an export).

It reads ``(notification id, topic, originator id, state bytes)`` and decodes the stored JSON
directly (``ledger.codec``); building the library's domain events for every row would cost
more than all the checks together.

1. replaying transactions in log order, no volunteer account is ever below zero;
2. every transaction balances, and the replayed balances sum to zero;
3. every transaction id derives from its key, no key moves points twice, no original is reversed
   twice, each reversal undoes exactly its original's postings, each batch line key pays once
   and is reversed at most once by exactly its amount; each activity attendance is paid at most
   once, by its own key's transaction, with the points and minutes it recorded; no activity holds
   more seats than its capacity;
4. every pay code was spent at most once and before it expired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic

from ledger import rules
from ledger.accounts import EXPIRED, ISSUING, MERCHANT, Posting, account_kind, is_volunteer, issuing_account, volunteer_account
from ledger.activities.rules import CREDITED, PENDING
from ledger.activities.domain import Activity, AttendanceRecord, Seat
from ledger.application import REVERSAL
from ledger.batches.rules import BATCH, BATCH_KINDS, BATCH_REVERSAL
from ledger.domain import LedgerTransaction
from ledger.errors import InvalidRequest
from ledger.journal import DEFAULT_ZONE
from ledger.lots.audit import LotAudit
from ledger.lots.legacy import OPENED as LEGACY_LOTS_OPENED
from ledger.codec import state_of, time_of, uuid_of
from merchants.domain import Redemption
from merchants.rules import redemption_key

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
REVERSED = get_topic(LedgerTransaction.Reversed)  # type: ignore[attr-defined]
MADE = get_topic(Redemption.Made)  # type: ignore[attr-defined]
CREATED = get_topic(Activity.Created)  # type: ignore[attr-defined]
CHECKED_IN = get_topic(AttendanceRecord.CheckedIn)  # type: ignore[attr-defined]
CHECKED_OUT = get_topic(AttendanceRecord.CheckedOut)  # type: ignore[attr-defined]
APPROVED = get_topic(AttendanceRecord.Approved)  # type: ignore[attr-defined]
SEAT = get_topic(Seat.Taken)  # type: ignore[attr-defined]
TOPICS = (RECORDED, REVERSED, MADE, CREATED, CHECKED_IN, CHECKED_OUT, APPROVED, SEAT, LEGACY_LOTS_OPENED)
FIELDS = ("balance", "earned", "redeemed", "minutes", "entries")
_ATTENDANCE_KEY = "attendance:"


class Account:
    __slots__ = FIELDS

    def __init__(self) -> None:
        self.balance = self.earned = self.redeemed = self.minutes = self.entries = 0

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in FIELDS}


class Replay:
    """Feed events in log order (``feed``), then ``finish``; violations go to ``add(invariant,
    message)``. Afterwards ``accounts`` holds every account's figures and ``line_keys`` the paid
    batch line keys."""

    def __init__(self, add: Callable[[int, str], None], zone: ZoneInfo = DEFAULT_ZONE) -> None:
        self.add = add
        self.lots = LotAudit(add, zone)  # invariant 6
        self.events = 0
        self.transactions = 0
        self.reversals = 0
        self.accounts: dict[str, Account] = defaultdict(Account)
        self.line_keys: dict[str, tuple[str, int]] = {}  # paid batch line key -> (volunteer account, amount)
        self.total = 0
        self._keys: dict[str, UUID] = {}
        self._recorded: dict[UUID, tuple[str, list[Posting]]] = {}  # id -> (kind, postings)
        self._reversal_of: dict[UUID, list[UUID]] = defaultdict(list)
        self._marked: dict[UUID, list[UUID]] = defaultdict(list)
        self._reversed_lines: set[str] = set()
        self._redemption_keys: dict[str, UUID] = {}
        self._activities: dict[UUID, dict[str, Any]] = {}
        self._attendances: dict[UUID, dict[str, Any]] = {}
        self._pending: dict[UUID, tuple[int, int]] = {}
        self._paid: dict[UUID, tuple[int, int]] = {}  # attendance -> (points, minutes) it was paid
        self._paid_attendance: set[UUID] = set()
        self._attendance_txns: dict[UUID, tuple[list[Any], int]] = {}  # txn id -> (postings, minutes)
        self._seats: dict[UUID, list[int]] = defaultdict(list)

    # ------------------------------------------------------------------ feeding

    def feed_all(self, rows: Iterable[tuple[int, str, Any, bytes]]) -> None:
        for nid, topic, originator_id, state in rows:
            self.feed(nid, topic, originator_id, state)

    def feed(self, nid: int, topic: str, originator_id: Any, state: bytes) -> None:
        """One stored event: its notification id, topic, originator id (UUID or its text) and
        stored state bytes. Topics no check needs are only counted."""
        self.events += 1
        handler = self._handlers.get(topic)
        if handler is None:
            return
        try:
            event = state_of(state)
            oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
            handler(self, nid, oid, event)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            self.add(2, f"event {nid} ({topic}) cannot be decoded: {e!r}")

    def _reversed(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        self._marked[oid].append(uuid_of(e["reversal_id"]))  # type: ignore[arg-type]

    def _transaction(self, nid: int, txn_id: UUID, e: dict[str, Any]) -> None:
        add = self.add
        key, kind, raw = e["key"], e["kind"], e["postings"]
        self.transactions += 1
        if txn_id != LedgerTransaction.create_id(key):
            add(3, f"transaction {txn_id} (event {nid}) does not derive from its key {key!r}")
        if key in self._keys:
            add(3, f"key {key!r} moved points twice: {self._keys[key]} and {txn_id}")
        self._keys[key] = txn_id
        try:
            postings = [Posting.from_dict(p) for p in raw]
            for p in postings:
                rules.check_points(p.amount, cap=2**62)
        except (ValueError, TypeError, KeyError, InvalidRequest) as exc:
            add(2, f"transaction {txn_id} (event {nid}) has a malformed posting: {exc}")
            return
        minutes = e.get("minutes", 0)
        if key.startswith(_ATTENDANCE_KEY):
            self._attendance_txns[txn_id] = (raw, minutes)
        # Batch chunks are never reversed whole (their lines are, by key): keep no postings.
        self._recorded[txn_id] = (kind, postings if kind not in BATCH_KINDS else [])
        reverses = uuid_of(e.get("reverses"))
        if reverses is not None:
            self.reversals += 1
            self._reversal_of[reverses].append(txn_id)
            original = self._recorded.get(reverses)
            if original is None:
                add(3, f"reversal {txn_id} (event {nid}) reverses {reverses}, not recorded before it")
            elif original[0] == REVERSAL:
                add(3, f"reversal {txn_id} reverses another reversal {reverses}")
            elif sorted(rules.net_deltas(p.reversed() for p in original[1]).items()) != sorted(
                rules.net_deltas(p for p in postings if account_kind(p.destination) != EXPIRED).items()
            ):  # lots given back after their last day go on to expiry in the reversal itself
                add(3, f"reversal {txn_id} does not exactly undo {reverses}")

        self.lots.transaction(nid, key, kind, raw, time_of(e["at"]))
        figures = rules.account_figures(raw, minutes)
        if sum(f[0] for f in figures.values()) != 0:
            add(2, f"transaction {txn_id} (event {nid}) does not balance")
        accounts = self.accounts
        for account, (delta, earned, redeemed, mins, _, _) in figures.items():
            acct = accounts[account]
            acct.balance += delta
            self.total += delta
            acct.entries += 1
            acct.earned += earned
            acct.redeemed += redeemed
            if is_volunteer(account):
                acct.minutes += mins
                if acct.balance < 0:
                    add(1, f"{account} is at {acct.balance} after transaction {txn_id} (event {nid}, key {key!r})")
        if kind in BATCH_KINDS:
            self._line_keys(txn_id, kind, raw)

    def _line_keys(self, txn_id: UUID, kind: str, postings: Sequence[dict[str, Any]]) -> None:
        """Invariant 3 for welfare-day batches: a line key pays once; a reversed line is reversed
        once, by exactly its amount, back to where it came from."""
        for p in postings:
            if kind == BATCH and "key" in p:
                if p["key"] in self.line_keys:
                    self.add(3, f"batch line key {p['key']!r} paid twice (again in {txn_id})")
                self.line_keys[p["key"]] = (p["destination"], p["amount"])
            elif kind == BATCH_REVERSAL and "reverses" in p:
                paid = self.line_keys.get(p["reverses"])
                if paid is None:
                    self.add(3, f"batch reversal {txn_id} reverses line {p['reverses']!r}, never paid before it")
                elif p["reverses"] in self._reversed_lines:
                    self.add(3, f"batch line {p['reverses']!r} reversed twice (again in {txn_id})")
                elif paid != (p["source"], p["amount"]):
                    self.add(3, f"batch reversal {txn_id} does not exactly undo line {p['reverses']!r}")
                self._reversed_lines.add(p["reverses"])

    def _redemption(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        add, key = self.add, e["key"]
        if key in self._redemption_keys:
            add(4, f"redemption key {key!r} was spent twice: {self._redemption_keys[key]} and {oid} (event {nid})")
        self._redemption_keys[key] = oid
        if oid != Redemption.create_id(key) or uuid_of(e["transaction_id"]) != LedgerTransaction.create_id(key):
            add(4, f"redemption {oid} (event {nid}) does not derive from its key {key!r}")
        if e.get("via") == "pay_code":
            if not key.startswith(redemption_key("")):
                add(4, f"pay-code redemption {oid} has key {key!r}, not named by its code's nonce")
            at = time_of(e["at"])
            expires = e.get("code_expires")
            if expires is None or at.timestamp() >= expires:
                add(4, f"redemption {oid} (event {nid}) spent a pay code at {at.isoformat()}, at or after its expiry {expires}")

    def _activity(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        self._activities[oid] = {"unit_id": uuid_of(e["unit_id"]), "capacity": e.get("capacity")}

    def _seat(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        self._seats[uuid_of(e["activity_id"])].append(e["number"])  # type: ignore[index]

    def _checked_in(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        activity_id, volunteer_id = uuid_of(e["activity_id"]), uuid_of(e["volunteer_id"])
        self._attendances[oid] = {"activity_id": activity_id, "volunteer_id": volunteer_id}
        if oid != AttendanceRecord.create_id(activity_id, volunteer_id):
            self.add(3, f"attendance {oid} does not derive from its activity and volunteer")

    def _checked_out(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        if e["status"] != CREDITED:
            if e["status"] == PENDING:
                self._pending[oid] = (e["points"], e["minutes"])
            return
        self._pay_attendance(nid, oid, e, e["points"], e["minutes"])

    def _approved(self, nid: int, oid: UUID, e: dict[str, Any]) -> None:
        if oid not in self._pending:
            self.add(3, f"attendance {oid} was approved without waiting for approval (event {nid})")
            return
        points, minutes = self._pending.pop(oid)
        self._pay_attendance(nid, oid, e, points, minutes)

    def _pay_attendance(self, nid: int, oid: UUID, e: dict[str, Any], points: int, minutes: int) -> None:
        if oid in self._paid_attendance:
            self.add(3, f"attendance {oid} was paid twice (event {nid})")
        self._paid_attendance.add(oid)
        expected = LedgerTransaction.create_id(f"{_ATTENDANCE_KEY}{oid}")
        named = uuid_of(e["transaction_id"])
        if named != expected:
            self.add(3, f"attendance {oid} names transaction {named}, not its key's {expected}")
        elif oid in self._attendances:
            self._paid[oid] = (points, minutes)

    _handlers: dict[str, Callable[[Replay, int, UUID, dict[str, Any]], None]] = {
        RECORDED: _transaction,
        REVERSED: _reversed,
        MADE: _redemption,
        CREATED: _activity,
        SEAT: _seat,
        CHECKED_IN: _checked_in,
        CHECKED_OUT: _checked_out,
        APPROVED: _approved,
        LEGACY_LOTS_OPENED: lambda self, nid, _oid, e: self.lots.legacy_event(nid, e),  # lots of before lots
    }

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        add = self.add
        self.lots.finish({a: acct.balance for a, acct in self.accounts.items()})
        if self.total != 0:
            add(2, f"the replayed balances sum to {self.total}, not 0")
        for original, reversals in self._reversal_of.items():
            if len(reversals) > 1:
                add(3, f"transaction {original} was reversed {len(reversals)} times: {', '.join(map(str, reversals))}")
        for original, marks in self._marked.items():
            if len(marks) > 1:
                add(3, f"transaction {original} was marked reversed {len(marks)} times")
            for mark in marks:
                if mark not in self._reversal_of.get(original, []):
                    add(3, f"transaction {original} is marked reversed by {mark}, which is no reversal of it")
        for original, reversals in self._reversal_of.items():
            for r in reversals:
                if r not in self._marked.get(original, []):
                    add(3, f"reversal {r} of {original} is not marked on the original")
        self._finish_attendances()

    def _finish_attendances(self) -> None:
        for oid, (points, minutes) in self._paid.items():
            record = self._attendances[oid]
            txn_id = LedgerTransaction.create_id(f"{_ATTENDANCE_KEY}{oid}")
            txn = self._attendance_txns.get(txn_id)
            if txn is None:
                self.add(3, f"attendance {oid} is marked paid but its transaction {txn_id} is not in the log")
                continue
            activity = self._activities.get(record["activity_id"])
            want = [{"source": issuing_account(activity["unit_id"]) if activity else None,
                     "destination": volunteer_account(record["volunteer_id"]), "amount": points}]
            postings, txn_minutes = txn
            postings = [{k: p[k] for k in ("source", "destination", "amount")} for p in postings]  # without its lot
            if postings != want or txn_minutes != minutes:
                self.add(3, f"attendance {oid} recorded {points} points / {minutes} min, its transaction moved "
                            f"{postings} / {txn_minutes} min")
        for activity_id, numbers in self._seats.items():
            a = self._activities.get(activity_id)
            capacity = a["capacity"] if a is not None else None
            if capacity is not None and (max(numbers) > capacity or len(set(numbers)) != len(numbers)):
                self.add(3, f"activity {activity_id} holds {len(numbers)} seats (highest {max(numbers)}) for capacity {capacity}")

    # ------------------------------------------------------------------ figures

    def volunteer_accounts(self) -> int:
        return sum(1 for a in self.accounts if is_volunteer(a))

    def points_held(self) -> int:
        return sum(a.balance for k, a in self.accounts.items() if is_volunteer(k))

    def points_issued(self) -> int:
        return -sum(a.balance for k, a in self.accounts.items() if account_kind(k) == ISSUING)

    def points_redeemed(self) -> int:
        return sum(a.balance for k, a in self.accounts.items() if account_kind(k) == MERCHANT)
