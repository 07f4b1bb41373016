"""What a rebuild of the accounts projection (``balances``, ``entries``) up to a position gives,
as two SELECTs over the ledger's postings table, on PostgreSQL: for verify to compare with the
rows held, in the server, with nothing written.

The entries are the projection's own run statement (``projections.accounts.RUN_SQL``) applied to
the whole log as one run onto empty balances, stopped before it writes; the balances are those
entries added up per account, as the run statement adds them (the entries computed once, into a
temporary table). So the comparison checks the rows
against the catch-up's own arithmetic done in one go, not in the steps it was applied in.
"""

from __future__ import annotations

from typing import Any

from projections import accounts
from projections.db import Tx

_WRITES = "), e AS ("
_BALANCES_BEFORE = "LEFT JOIN balances b ON b.account = f.account"
_NO_BALANCES = "LEFT JOIN (SELECT NULL::text AS account, 0::bigint AS balance WHERE false) b ON b.account = f.account"


def _rows_sql(postings: str, events: str) -> str:
    """The run statement's ``rows`` (one per transaction and account, with the balance after),
    for positions %(lo)s…%(hi)s, from empty balances."""
    statement = accounts.RUN_SQL
    if _WRITES not in statement or _BALANCES_BEFORE not in statement:
        raise RuntimeError("projections.accounts.RUN_SQL changed shape: update projections/expected_accounts.py")
    return statement.split(_WRITES, 1)[0].replace(_BALANCES_BEFORE, _NO_BALANCES).format(postings=postings, events=events) + ")"


def expected_sql(tx: Tx, raw: Any, end: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per table, a SELECT (columns and types as the table's) and its parameters. The rows are
    computed once, into a temporary table of ``tx`` (gone with it). ``raw``: the ledger's
    ``RawLog`` (the qualified names of the events and postings tables)."""
    tx.execute("DROP TABLE IF EXISTS pg_temp.verify_account_rows")
    tx.execute(f"CREATE TEMP TABLE verify_account_rows ON COMMIT DROP AS {_rows_sql(raw.postings, raw.table)} "
               "SELECT * FROM rows", {"lo": 0, "hi": end})
    return {
        "balances": (
            "SELECT account, split_part(account, ':', 1) AS kind, sum(amount)::bigint AS balance, "
            "sum(earned)::bigint AS earned, sum(redeemed)::bigint AS redeemed, sum(minutes)::bigint AS minutes, "
            "count(*)::bigint AS entries, max(position)::bigint AS last_seq FROM pg_temp.verify_account_rows GROUP BY account",
            {},
        ),
        "entries": (
            "SELECT account, position::bigint AS seq, transaction_id, kind, amount::bigint AS amount, "
            "balance_after::bigint AS balance_after, counterparty, minutes::bigint AS minutes, memo, at, reverses "
            "FROM pg_temp.verify_account_rows",
            {},
        ),
    }
