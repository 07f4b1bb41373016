"""The alliance's read models: merchants and offers for the public listing, and every
point movement into or out of a merchant's account as a statement line (对账单).

Statement lines come from the ledger's own transactions (so a reversal made by staff through
``/v1/transactions/{id}/reversal`` is on the statement too); the redemption record saved in
the same transaction adds its redemption id and offer.

Catch-up reads the merchants', offers' and redemptions' events (structure, on the event path) and,
between them, runs of transactions from the ledger's postings table (``projections.postings``):
on PostgreSQL one statement per run (``RUN_SQL``) writes the statement lines of the run's postings
that touch a merchant; on SQLite those rows are read and applied in Python (``_transaction``).
``use_postings=False``: every event through the library's reader and mapper (the old path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic

from ledger.accounts import account_kind, account_owner
from ledger.domain import LedgerTransaction
from ledger.codec import utc_text
from merchants.domain import Merchant, Offer, Redemption
from projections.base import Projection
from projections.db import Tx
from projections.postings import UTC_TEXT_SQL, transactions, txn_sql
from projections.rawlog import RawEvent, Run

_MERCHANT_ROWS = "AND (source_kind = 'merchant' OR destination_kind = 'merchant')"

# One run of transactions (positions %(lo)s…%(hi)s of the postings table), applied as
# ``_transaction`` applies them: ``legs`` is each posting seen from each merchant it touches
# (points in positive, out negative, the other side of the posting); per transaction and merchant,
# the net points and the volunteer of its last posting with one; a reversal takes the redemption
# and offer of the line it reverses (written by an earlier run: a line of the same run has none
# yet, as in Python, since its ``Redemption.Made`` comes after it).
RUN_SQL = (
    """
WITH p AS MATERIALIZED (
  SELECT position, seq, source_kind, source_id, destination_kind, destination_id, amount
  FROM {postings} WHERE position BETWEEN %(lo)s AND %(hi)s """ + _MERCHANT_ROWS + """
), legs AS (
  SELECT position, seq, 0 AS side, destination_id AS merchant, source_kind AS other_kind, source_id AS other, amount AS points
  FROM p WHERE destination_kind = 'merchant'
  UNION ALL
  SELECT position, seq, 1, source_id, destination_kind, destination_id, -amount FROM p WHERE source_kind = 'merchant'
), m AS (
  SELECT position, merchant, sum(points)::bigint AS points,
         (array_agg(other ORDER BY seq DESC, side DESC) FILTER (WHERE other_kind = 'volunteer'))[1] AS volunteer
  FROM legs GROUP BY position, merchant
), t AS MATERIALIZED (""" + txn_sql("AND p.position IN (SELECT position FROM m)") + """)
INSERT INTO statement_lines (transaction_id, merchant_id, seq, kind, points, volunteer_id, redemption_id, offer_id, memo, at, reverses)
SELECT t.transaction_id, m.merchant::text, m.position, t.kind, m.points, m.volunteer::text, o.redemption_id, o.offer_id, t.memo,
       """ + UTC_TEXT_SQL.format("t.at") + """, t.reverses
FROM m JOIN t ON t.position = m.position LEFT JOIN statement_lines o ON o.transaction_id = t.reverses
ORDER BY m.position, m.merchant::text
"""
)


class AllianceProjection(Projection):
    name = "alliance"
    event_classes = (
        Merchant.Registered, Merchant.Suspended, Merchant.Reinstated,  # type: ignore[attr-defined]
        Offer.Created, Offer.StockTaken, Offer.StockReturned, Offer.Withdrawn,  # type: ignore[attr-defined]
        Redemption.Made,  # type: ignore[attr-defined]
        LedgerTransaction.Recorded,  # type: ignore[attr-defined]
    )
    tables = ("alliance_merchants", "alliance_offers", "statement_lines")

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS alliance_merchants ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, unit_id TEXT NOT NULL, address TEXT NOT NULL, "
            "contact TEXT NOT NULL, suspended INTEGER NOT NULL, registered_at TEXT NOT NULL, seq BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS alliance_merchants_unit ON alliance_merchants (unit_id)",
            "CREATE TABLE IF NOT EXISTS alliance_offers ("
            "id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, title TEXT NOT NULL, points BIGINT NOT NULL, "
            "stock BIGINT, taken BIGINT NOT NULL, lim INTEGER, limit_period TEXT, starts_at TEXT, ends_at TEXT, "
            "withdrawn INTEGER NOT NULL, created_at TEXT NOT NULL, seq BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS alliance_offers_merchant ON alliance_offers (merchant_id, seq)",
            "CREATE TABLE IF NOT EXISTS statement_lines ("
            "transaction_id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, "
            "points BIGINT NOT NULL, volunteer_id TEXT, redemption_id TEXT, offer_id TEXT, memo TEXT NOT NULL, "
            "at TEXT NOT NULL, reverses TEXT)",
            "CREATE INDEX IF NOT EXISTS statement_lines_merchant_at ON statement_lines (merchant_id, at)",
        ]

    def __init__(self, *, use_postings: bool = True) -> None:
        # True: transactions from the postings table (runs of positions); False: every event
        # through the library's reader and domain events, the old path.
        self.reads_raw = use_postings  # type: ignore[misc]
        self.sql_runs = 0  # runs applied by RUN_SQL, and their transactions (to see the path taken)
        self.sql_events = 0

    def sql_topic(self, *, postgres: bool) -> str | None:
        return get_topic(LedgerTransaction.Recorded) if self.reads_raw else None  # type: ignore[attr-defined]

    def step_size(self, *, postgres: bool) -> int:
        return (250_000 if postgres else 20_000) if self.reads_raw else self.batch_size

    def apply_raw(self, tx: Tx, events: Sequence[RawEvent | Run], mapper: Any) -> None:
        """Structure events through the library's mapper, runs from the postings table, in order."""
        for item in events:
            if isinstance(item, RawEvent):
                self.apply(tx, [(item.id, mapper.to_domain_event(item.stored()))])
            elif tx.is_postgres:
                tx.execute(RUN_SQL.format(postings=item.postings, events=item.table), {"lo": item.lo, "hi": item.hi})
                self.sql_runs += 1
                self.sql_events += item.count
            else:
                for t in transactions(tx, item, where=_MERCHANT_ROWS):
                    _transaction(tx, t.position, t)

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        for seq, e in batch:
            handler = _HANDLERS.get(type(e).__qualname__)
            if handler is not None:
                handler(tx, seq, e)


def _merchant_registered(tx: Tx, seq: int, e: Any) -> None:
    tx.execute(
        "INSERT INTO alliance_merchants (id, name, unit_id, address, contact, suspended, registered_at, seq) "
        "VALUES (%s, %s, %s, %s, %s, 0, %s, %s)",
        (str(e.originator_id), e.name, str(e.unit_id), e.address, e.contact, utc_text(e.at), seq),
    )


def _merchant_suspended(value: int) -> Any:
    def apply(tx: Tx, seq: int, e: Any) -> None:
        tx.execute("UPDATE alliance_merchants SET suspended = %s WHERE id = %s", (value, str(e.originator_id)))

    return apply


def _offer_created(tx: Tx, seq: int, e: Any) -> None:
    tx.execute(
        "INSERT INTO alliance_offers (id, merchant_id, title, points, stock, taken, lim, limit_period, starts_at, "
        "ends_at, withdrawn, created_at, seq) VALUES (%s, %s, %s, %s, %s, 0, %s, %s, %s, %s, 0, %s, %s)",
        (
            str(e.originator_id), str(e.merchant_id), e.title, e.points, e.stock, e.limit, e.limit_period,
            utc_text(e.starts_at) if e.starts_at else None, utc_text(e.ends_at) if e.ends_at else None, utc_text(e.at), seq,
        ),
    )


def _offer_taken(delta: int) -> Any:
    def apply(tx: Tx, seq: int, e: Any) -> None:
        tx.execute("UPDATE alliance_offers SET taken = taken + %s WHERE id = %s", (delta, str(e.originator_id)))

    return apply


def _offer_withdrawn(tx: Tx, seq: int, e: Any) -> None:
    tx.execute("UPDATE alliance_offers SET withdrawn = 1 WHERE id = %s", (str(e.originator_id),))


def _transaction(tx: Tx, seq: int, e: Any) -> None:
    """One line per merchant the transaction touches: points in are positive, out negative."""
    nets: dict[str, int] = {}
    volunteers: dict[str, str] = {}
    for p in e.postings:
        src, dst, amount = str(p["source"]), str(p["destination"]), int(p["amount"])
        for merchant, other, signed in ((dst, src, amount), (src, dst, -amount)):
            if account_kind(merchant) == "merchant":
                nets[merchant] = nets.get(merchant, 0) + signed
                if account_kind(other) == "volunteer":
                    volunteers[merchant] = str(account_owner(other))
    original = None
    if nets and e.reverses:
        original = tx.one("SELECT redemption_id, offer_id FROM statement_lines WHERE transaction_id = %s", (str(e.reverses),))
    for merchant, points in sorted(nets.items()):
        tx.execute(
            "INSERT INTO statement_lines (transaction_id, merchant_id, seq, kind, points, volunteer_id, redemption_id, "
            "offer_id, memo, at, reverses) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                str(e.originator_id), str(account_owner(merchant)), seq, e.kind, points, volunteers.get(merchant),
                original["redemption_id"] if original else None, original["offer_id"] if original else None,
                e.memo, utc_text(e.at), str(e.reverses) if e.reverses else None,
            ),
        )


def _redemption_made(tx: Tx, seq: int, e: Any) -> None:
    tx.execute(
        "UPDATE statement_lines SET redemption_id = %s, offer_id = %s WHERE transaction_id = %s",
        (str(e.originator_id), str(e.offer_id) if e.offer_id else None, str(e.transaction_id)),
    )


_HANDLERS = {
    "Merchant.Registered": _merchant_registered,
    "Merchant.Suspended": _merchant_suspended(1),
    "Merchant.Reinstated": _merchant_suspended(0),
    "Offer.Created": _offer_created,
    "Offer.StockTaken": _offer_taken(1),
    "Offer.StockReturned": _offer_taken(-1),
    "Offer.Withdrawn": _offer_withdrawn,
    "Redemption.Made": _redemption_made,
    "LedgerTransaction.Recorded": _transaction,
}


# ---------------------------------------------------------------- queries

_SUBTREE = (
    "WITH RECURSIVE subtree(id) AS (SELECT id FROM units WHERE id = %s "
    "UNION SELECT u.id FROM units u JOIN subtree s ON u.parent_id = s.id) "
)


def merchants(db: Any, *, unit_id: str | None, after: int | None, limit: int) -> list[dict[str, Any]]:
    """Merchants in registration order (``after``: the ``seq`` cursor); with ``unit_id``, only
    those of that unit and every unit below it."""
    where, params = ["seq > %s"], [after or 0]
    prefix = ""
    if unit_id is not None:
        prefix = _SUBTREE
        where.append("unit_id IN (SELECT id FROM subtree)")
        params = [unit_id, *params]
    with db.read() as tx:
        return tx.all(  # type: ignore[no-any-return]
            f"{prefix}SELECT * FROM alliance_merchants WHERE {' AND '.join(where)} ORDER BY seq LIMIT %s",
            [*params, limit],
        )


def merchant(db: Any, merchant_id: str) -> dict[str, Any] | None:
    with db.read() as tx:
        return tx.one("SELECT * FROM alliance_merchants WHERE id = %s", (merchant_id,))  # type: ignore[no-any-return]


def offers(db: Any, merchant_id: str, *, after: int | None, limit: int) -> list[dict[str, Any]]:
    with db.read() as tx:
        return tx.all(  # type: ignore[no-any-return]
            "SELECT * FROM alliance_offers WHERE merchant_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (merchant_id, after or 0, limit),
        )


def statement(db: Any, merchant_id: str, lo: str, hi: str) -> list[dict[str, Any]]:
    """Lines with ``lo <= at < hi`` (UTC text), oldest first, with the volunteer's name and the
    offer's title where known."""
    with db.read() as tx:
        return tx.all(  # type: ignore[no-any-return]
            "SELECT l.*, v.name AS volunteer_name, v.member_no AS member_no, o.title AS offer_title "
            "FROM statement_lines l LEFT JOIN volunteers v ON v.id = l.volunteer_id "
            "LEFT JOIN alliance_offers o ON o.id = l.offer_id "
            "WHERE l.merchant_id = %s AND l.at >= %s AND l.at < %s ORDER BY l.seq",
            (merchant_id, lo, hi),
        )
