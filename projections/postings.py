"""Reading the ledger's postings table (``ledger.postings``) inside a projection's transaction.

The journal writes one typed row per posting in the same store transaction as the event, so a
projection that needs only point movements reads a run of transactions (``rawlog.Run``: a range
of positions between two events it applies otherwise) as columns: in SQL on PostgreSQL
(``columns``, ``account_sql``), or here as ``Txn``s, one per transaction in log order, for the
Python paths (SQLite, short runs).

One thing the rows do not say: a row's ``memo`` is the posting's own memo, else the transaction's,
so the transaction's memo is not known when every posting of it has its own. Only a welfare-day
batch's lines carry memos of their own, so for those transactions (kind ``batch``) the memo is
read from the event (``txn_memos``); a posting's memo counts as its own when it differs from that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from ledger.codec import from_utc_text
from projections.db import Tx
from projections.rawlog import Run

OWN_MEMO_KINDS = ("batch",)  # the only transactions whose postings carry memos of their own


@dataclass
class Txn:
    """One transaction as its posting rows give it (the attributes the projections read of a
    ``LedgerTransaction.Recorded`` event; ``postings`` as stored: source, destination, amount,
    minutes, and memo where it is the posting's own)."""

    position: int
    originator_id: UUID
    key: str
    kind: str
    minutes: int
    memo: str
    unit_id: UUID | None
    reverses: UUID | None
    at: datetime
    day: date
    postings: list[dict[str, Any]] = field(default_factory=list)


def _uuid(value: Any) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    return UUID(hex=value)


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, UUID) else str(value)


def txn_memos(tx: Tx, events_table: str, positions: Sequence[int]) -> dict[int, str]:
    """The memo of each transaction at these positions, read from its stored event."""
    if not positions:
        return {}
    if tx.is_postgres:
        rows = tx.all(
            f"SELECT notification_id AS id, convert_from(state, 'UTF8')::json->>'memo' AS memo FROM {events_table} "
            "WHERE notification_id = ANY(%s)",
            (list(positions),),
        )
    else:
        rows = []
        for i in range(0, len(positions), 500):
            part = positions[i : i + 500]
            rows += tx.all(
                f"SELECT rowid AS id, json_extract(CAST(state AS TEXT), '$.memo') AS memo FROM {events_table} "
                f"WHERE rowid IN ({', '.join(['%s'] * len(part))})",
                part,
            )
    return {int(r["id"]): r["memo"] or "" for r in rows}


def transactions(tx: Tx, run: Run, *, where: str = "") -> list[Txn]:
    """The transactions of ``run`` from its posting rows, in log order (``where``: an extra
    condition on the rows, e.g. only those touching a merchant)."""
    rows = tx.all(
        "SELECT position, seq, transaction_id, key, kind, source_kind, source_id, destination_kind, destination_id, "
        f"amount, line_minutes, txn_minutes, unit_id, reverses, memo, at, day FROM {run.postings} "
        f"WHERE position BETWEEN %s AND %s {where} ORDER BY position, seq",
        (run.lo, run.hi),
    )
    memos = txn_memos(tx, run.table, sorted({int(r["position"]) for r in rows if r["kind"] in OWN_MEMO_KINDS}))
    out: list[Txn] = []
    for r in rows:
        position = int(r["position"])
        if not out or out[-1].position != position:
            at = r["at"] if isinstance(r["at"], datetime) else from_utc_text(r["at"])
            day = r["day"] if isinstance(r["day"], date) else date.fromisoformat(r["day"])
            out.append(
                Txn(
                    position, _uuid(r["transaction_id"]), r["key"], r["kind"], int(r["txn_minutes"]),  # type: ignore[arg-type]
                    memos.get(position, r["memo"]), _uuid(r["unit_id"]), _uuid(r["reverses"]), at, day,
                )
            )
        t = out[-1]
        posting: dict[str, Any] = {
            "source": f"{r['source_kind']}:{_hex(r['source_id'])}",
            "destination": f"{r['destination_kind']}:{_hex(r['destination_id'])}",
            "amount": int(r["amount"]),
        }
        if r["line_minutes"]:
            posting["minutes"] = int(r["line_minutes"])
        if r["memo"] != t.memo:
            posting["memo"] = r["memo"]
        t.postings.append(posting)
    return out


def account_sql(kind: str, uid: str) -> str:
    """An account's name (``<kind>:<uuid hex>``) from two postings columns, in PostgreSQL."""
    return f"{kind} || ':' || replace({uid}::text, '-', '')"


# PostgreSQL: fixed-width UTC text of a timestamptz, as ``ledger.codec.utc_text`` writes it.
UTC_TEXT_SQL = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

def txn_sql(where: str = "") -> str:
    """PostgreSQL: each transaction of positions %(lo)s…%(hi)s of {postings} (``where``: a further
    condition on ``p``, the postings rows), with its memo (the event's, from {events}, for the kinds
    whose postings may carry their own)."""
    return f"""
  SELECT p.position, min(p.transaction_id::text) AS transaction_id, min(p.kind) AS kind,
         min(p.txn_minutes) AS tmin, min(p.reverses::text) AS reverses, min(p.at) AS at,
         CASE WHEN min(p.kind) IN ({", ".join(f"'{k}'" for k in OWN_MEMO_KINDS)})
              THEN (SELECT convert_from(e.state, 'UTF8')::json->>'memo' FROM {{events}} e WHERE e.notification_id = p.position)
              ELSE min(p.memo) END AS memo
  FROM {{postings}} p WHERE p.position BETWEEN %(lo)s AND %(hi)s {where} GROUP BY p.position
"""
