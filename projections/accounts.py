"""Balances (balance, earned, redeemed, minutes) and the entry history of every account.

Catch-up reads the ledger's postings table (``projections.postings``), never the events' JSON: the
follower gives each step's transactions as runs of positions; on PostgreSQL one statement
(``RUN_SQL``) adds each run's figures up per transaction and account, writes the entries with
their balance after (a running sum over the balances before) and adds the figures to the
balances; on SQLite the rows are read and applied in Python (``_apply_rows``), as the library's
events are on the old path (``use_postings=False``: the library's reader and mapper, kept to compare
the two and for a store written before the postings table existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic

from ledger import rules
from ledger.accounts import Posting, account_kind
from ledger.domain import LedgerTransaction
from ledger.codec import utc_text
from projections.base import Projection
from projections.db import Tx
from projections.postings import UTC_TEXT_SQL, account_sql, transactions, txn_sql
from projections.rawlog import RawEvent, Run

_FIELDS = ("balance", "earned", "redeemed", "minutes", "entries")
BULK_POSTINGS = 64  # from this many postings on, a transaction is applied by one statement


# Timestamps as fixed-width UTC text, so they sort as text on both stores. (The old name, which
# api/routes/merchants.py still imports from here.)
iso = utc_text


def entry_lines(postings: Sequence[Posting]) -> dict[str, tuple[int, str]]:
    """Per account touched: its net amount and the counterparty (or "several")."""
    nets = rules.net_deltas(postings)
    partners: dict[str, set[str]] = {a: set() for a in nets}
    for p in postings:
        partners[p.source].add(p.destination)
        partners[p.destination].add(p.source)
    return {a: (nets[a], next(iter(partners[a])) if len(partners[a]) == 1 else "several") for a in nets}


# One run of transactions (positions %(lo)s…%(hi)s of the postings table), applied as
# ``rules.account_figures`` and ``_apply_rows`` apply them: ``legs`` is every posting twice (the
# destination's side, then the source's, with the amount and the posting's own minutes signed);
# ``fig`` per transaction and account: net amount, earned (flows from or back to issuing
# accounts), redeemed (net flows to merchants), own minutes (those of issuing flows), the single
# counterparty or "several", the first memo of the account's own postings; ``rows`` adds the
# transaction's minutes (volunteers only, following the sign of what was earned), the memo, and the
# balance after each entry (the balance before the run plus a running sum in log order); then the
# entries are written and the figures added to the balances.
RUN_SQL = (
    """
WITH p AS MATERIALIZED (
  SELECT position, seq, amount, line_minutes, memo, """ + account_sql("source_kind", "source_id") + """ AS src,
         """ + account_sql("destination_kind", "destination_id") + """ AS dst
  FROM {postings} WHERE position BETWEEN %(lo)s AND %(hi)s
), t AS MATERIALIZED (""" + txn_sql() + """), legs AS (
  SELECT position, seq, dst AS account, src AS other, amount AS signed, line_minutes AS own, memo FROM p
  UNION ALL
  SELECT position, seq, src, dst, -amount, -line_minutes, memo FROM p
), fig AS (
  SELECT l.position, l.account, sum(l.signed)::bigint AS amount,
         sum(CASE WHEN starts_with(l.other, 'issuing:') THEN l.signed ELSE 0 END)::bigint AS earned,
         sum(CASE WHEN starts_with(l.other, 'merchant:') THEN -l.signed ELSE 0 END)::bigint AS redeemed,
         sum(CASE WHEN starts_with(l.other, 'issuing:') THEN l.own ELSE 0 END)::bigint AS own,
         CASE WHEN min(l.other) = max(l.other) THEN min(l.other) ELSE 'several' END AS counterparty,
         (array_agg(l.memo ORDER BY l.seq) FILTER (WHERE l.memo IS DISTINCT FROM t.memo))[1] AS own_memo
  FROM legs l JOIN t ON t.position = l.position GROUP BY l.position, l.account
), rows AS MATERIALIZED (
  SELECT f.position, f.account, t.transaction_id, t.kind, f.amount, f.earned, f.redeemed,
         CASE WHEN starts_with(f.account, 'volunteer:') THEN f.own + sign(f.earned)::bigint * t.tmin ELSE 0 END AS minutes,
         coalesce(b.balance, 0) + sum(f.amount) OVER (PARTITION BY f.account ORDER BY f.position) AS balance_after,
         f.counterparty,
         CASE WHEN starts_with(f.account, 'volunteer:') THEN coalesce(f.own_memo, t.memo) ELSE t.memo END AS memo,
         """ + UTC_TEXT_SQL.format("t.at") + """ AS at, t.reverses
  FROM fig f JOIN t ON t.position = f.position LEFT JOIN balances b ON b.account = f.account
), e AS (
  INSERT INTO entries (account, seq, transaction_id, kind, amount, balance_after, counterparty, minutes, memo, at, reverses)
  SELECT account, position, transaction_id, kind, amount, balance_after, counterparty, minutes, memo, at, reverses
  FROM rows ORDER BY account, position
)
INSERT INTO balances AS b (account, kind, balance, earned, redeemed, minutes, entries, last_seq)
SELECT account, split_part(account, ':', 1), sum(amount), sum(earned), sum(redeemed), sum(minutes), count(*), max(position)
FROM rows GROUP BY account ORDER BY account
ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, earned = b.earned + excluded.earned,
  redeemed = b.redeemed + excluded.redeemed, minutes = b.minutes + excluded.minutes,
  entries = b.entries + excluded.entries, last_seq = excluded.last_seq
"""
)


class AccountsProjection(Projection):
    name = "accounts"
    event_classes = (LedgerTransaction.Recorded,)  # type: ignore[attr-defined]
    tables = ("balances", "entries")

    def __init__(self, *, use_postings: bool = True) -> None:
        # True: catch up from the postings table (runs of positions); False: the library's
        # reader and domain events, the old path.
        self.reads_raw = use_postings  # type: ignore[misc]
        self.sql_runs = 0  # runs applied by RUN_SQL, and their transactions (to see the path taken)
        self.sql_events = 0

    def sql_topic(self, *, postgres: bool) -> str | None:
        return get_topic(LedgerTransaction.Recorded) if self.reads_raw else None  # type: ignore[attr-defined]

    def step_size(self, *, postgres: bool) -> int:
        """From the postings table, steps of many transactions: on PostgreSQL one statement per
        step whatever its length; on SQLite rows read and applied in Python."""
        if not self.reads_raw:
            return self.batch_size
        return 250_000 if postgres else 20_000

    def apply_raw(self, tx: Tx, events: Sequence[RawEvent | Run], mapper: Any) -> None:
        """Runs from the postings table; stored events (a scratch rebuild from a file) through
        the library's mapper, as ``apply``."""
        pending: list[tuple[int, Any]] = []
        for item in events:
            if isinstance(item, RawEvent):
                pending.append((item.id, mapper.to_domain_event(item.stored())))
                continue
            self.apply(tx, pending)
            pending = []
            if tx.is_postgres:
                tx.execute("SET LOCAL jit = off")
                tx.execute(RUN_SQL.format(postings=item.postings, events=item.table), {"lo": item.lo, "hi": item.hi})
                self.sql_runs += 1
                self.sql_events += item.count
            else:
                self._apply_rows(tx, [(t.position, t) for t in transactions(tx, item)])
        self.apply(tx, pending)

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS balances ("
            "account TEXT PRIMARY KEY, kind TEXT NOT NULL, "
            "balance BIGINT NOT NULL, earned BIGINT NOT NULL, redeemed BIGINT NOT NULL, "
            "minutes BIGINT NOT NULL, entries BIGINT NOT NULL, last_seq BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS entries ("
            "account TEXT NOT NULL, seq BIGINT NOT NULL, transaction_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, amount BIGINT NOT NULL, balance_after BIGINT NOT NULL, "
            "counterparty TEXT NOT NULL, minutes BIGINT NOT NULL, memo TEXT NOT NULL, "
            "at TEXT NOT NULL, reverses TEXT, PRIMARY KEY (account, seq))",
        ]

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        if not batch:
            return
        # A large transaction (a welfare-day chunk) is applied by the database in one statement;
        # the small ones around it row by row, in order (each run reads the balances afresh).
        run: list[tuple[int, Any]] = []
        for item in batch:
            if tx.is_postgres and len(item[1].postings) >= BULK_POSTINGS:
                self._apply_rows(tx, run)
                run = []
                self._apply_bulk(tx, *item)
            else:
                run.append(item)
        self._apply_rows(tx, run)

    @staticmethod
    def _apply_bulk(tx: Tx, seq: int, e: Any) -> None:
        """One transaction's figures, added to the balances and written as entries (with the
        balance after) by one statement: no balance is read into Python."""
        figures = rules.credit_figures(e.postings, e.minutes) or rules.account_figures(e.postings, e.minutes)
        accounts = list(figures)
        rows = list(figures.values())

        def column(values: Any) -> str:
            return "".join("\x1f" + str(v) for v in values)

        params = [
            column(accounts),
            column(account_kind(a) for a in accounts),
            column(r[0] for r in rows),
            column(r[1] for r in rows),
            column(r[2] for r in rows),
            column(r[3] for r in rows),
            column(r[4] for r in rows),
            column(e.memo if r[5] is None else r[5] for r in rows),
            seq,
            seq, str(e.originator_id), e.kind, utc_text(e.at), str(e.reverses) if e.reverses else None,
        ]
        arrays = ", ".join(
            f"(string_to_array(%s, E'\\x1f'))[2:]::{kind}[]"
            for kind in ("text", "text", "bigint", "bigint", "bigint", "bigint", "text", "text")
        )
        tx.execute(
            f"WITH d AS (SELECT * FROM unnest({arrays}) "
            "AS d(account, account_kind, amount, earned, redeemed, minutes, counterparty, memo)), "
            "up AS (INSERT INTO balances AS b (account, kind, balance, earned, redeemed, minutes, entries, last_seq) "
            "SELECT account, account_kind, amount, earned, redeemed, minutes, 1, %s FROM d "
            "ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance, "
            "earned = b.earned + excluded.earned, redeemed = b.redeemed + excluded.redeemed, "
            "minutes = b.minutes + excluded.minutes, entries = b.entries + 1, last_seq = excluded.last_seq "
            "RETURNING account, balance) "
            "INSERT INTO entries (account, seq, transaction_id, kind, amount, balance_after, counterparty, "
            "minutes, memo, at, reverses) "
            "SELECT d.account, %s, %s, %s, d.amount, up.balance, d.counterparty, d.minutes, d.memo, %s, %s "
            "FROM d JOIN up ON up.account = d.account",
            params,
        )

    def _apply_rows(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        if not batch:
            return
        touched = sorted({acct for _, e in batch for p in e.postings for acct in (p["source"], p["destination"])})
        state = self._load(tx, touched)
        entries: list[tuple[Any, ...]] = []
        for seq, e in batch:
            figures = rules.account_figures(e.postings, e.minutes)
            at = utc_text(e.at)
            for account in sorted(figures):
                amount, earned, redeemed, minutes, counterparty, memo = figures[account]
                row = state.setdefault(account, dict.fromkeys(_FIELDS, 0))
                row["balance"] += amount
                row["earned"] += earned
                row["redeemed"] += redeemed
                row["minutes"] += minutes
                row["entries"] += 1
                row["last_seq"] = seq
                entries.append(
                    (
                        account, seq, str(e.originator_id), e.kind, amount, row["balance"], counterparty,
                        minutes, e.memo if memo is None else memo, at, str(e.reverses) if e.reverses else None,
                    )
                )
        tx.bulk_insert(
            "balances",
            [("account", "text"), ("kind", "text"), ("balance", "bigint"), ("earned", "bigint"), ("redeemed", "bigint"),
             ("minutes", "bigint"), ("entries", "bigint"), ("last_seq", "bigint")],
            [
                (a, account_kind(a), r["balance"], r["earned"], r["redeemed"], r["minutes"], r["entries"], r["last_seq"])
                for a, r in state.items()
                if "last_seq" in r
            ],
            suffix="ON CONFLICT (account) DO UPDATE SET "
            "balance = excluded.balance, earned = excluded.earned, redeemed = excluded.redeemed, "
            "minutes = excluded.minutes, entries = excluded.entries, last_seq = excluded.last_seq",
        )
        tx.bulk_insert(
            "entries",
            [("account", "text"), ("seq", "bigint"), ("transaction_id", "text"), ("kind", "text"), ("amount", "bigint"),
             ("balance_after", "bigint"), ("counterparty", "text"), ("minutes", "bigint"), ("memo", "text"),
             ("at", "text"), ("reverses", "text")],
            entries,
        )

    @staticmethod
    def _load(tx: Tx, accounts: list[str]) -> dict[str, dict[str, int]]:
        state: dict[str, dict[str, int]] = {}
        for i in range(0, len(accounts), 500):
            chunk = accounts[i : i + 500]
            marks = ", ".join(["%s"] * len(chunk))
            for row in tx.all(
                f"SELECT account, balance, earned, redeemed, minutes, entries FROM balances WHERE account IN ({marks})",
                chunk,
            ):
                state[row["account"]] = {f: int(row[f]) for f in _FIELDS}
        return state
