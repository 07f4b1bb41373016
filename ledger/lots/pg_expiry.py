"""Set-based expiry on PostgreSQL: a chunk of due lots expired by one database function call.

The journal's path (``ledger.lots.expiry``) builds every expiry in Python: an aggregate, its
event, its posting row, its lot writes, ~0.7 ms each, and saves them with the lots decided on as
read (a version check). Here Python only reads the due lots' ids and derives each transaction's
id from its key (``uuid5``, as ``LedgerTransaction.create_id``); one transaction then

1. takes the events table's EXCLUSIVE lock (as every insert of the library does) and NOTIFYs its
   channel: no other save is under way, so the lots read next are current and nothing changes them
   before the commit (every write of lots holds that lock);
2. calls ``<app>_expire_lots``, which reads those lots again (only those still holding points and
   past their last day: a lot drawn empty meanwhile, or expired by another run, is left alone), and
   for each writes exactly what the journal writes: the ``LedgerTransaction.Recorded`` event (the
   same JSON the library's transcoder makes, self-contained: postings, the drawing of all that is
   left of the lot, key, fingerprint, unit, time), the hash chain, the posting row, the volunteer's
   balance (CHECK >= 0) and lot version (moved on, so a decision made on the lots before is made
   again), the lot emptied and its drawing row.

A chunk is a hundred lots (``expiry.SQL_CHUNK``), so the lock is held some 10-30 ms: redemptions wait that long
at most. Any database error rolls the chunk back whole; ``expire_due`` then expires those lots by
the journal's path.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from ledger.domain import LedgerTransaction

FUNCTION_VERSION = 3
TOPIC = "ledger.domain:LedgerTransaction.Recorded"
AGGREGATE_TOPIC = "ledger.domain:LedgerTransaction"


def _names(recorder: Any) -> dict[str, Any]:
    prefix = recorder.events_table_name.removesuffix("_events")
    schema = Identifier(recorder.datastore.schema)

    def q(name: str) -> Any:
        return SQL("{0}.{1}").format(schema, Identifier(name))

    return {
        "function": q(f"{prefix}_expire_lots_v{FUNCTION_VERSION}"),
        "events": q(recorder.events_table_name),
        "chain_append": q(f"{prefix}_chain_append"),
        "postings": q(recorder.postings_table),
        "balances": q(recorder.balances_table),
        "lots": q(recorder.lots_table),
        "drawings": q(recorder.drawings_table),
    }


def _create_function(recorder: Any) -> Any:
    n = _names(recorder)
    # The state: the JSON of LedgerTransaction.Recorded as the library's transcoder writes it
    # (compact, keys in the event's order, UTF-8 unescaped), decided on the lot as it is now.
    state = SQL(
        "convert_to('{{\"timestamp\":{{\"_type_\":\"datetime_iso\",\"_data_\":' || to_json(p_ts) || '}},"
        "\"originator_topic\":' || to_json({agg}::text) || ',\"key\":' || to_json('expiry:' || d.lot) || ',"
        "\"kind\":\"expiry\",\"postings\":[{{\"source\":' || to_json(d.account) || ',"
        "\"destination\":' || to_json('expired:' || d.unit_hex) || ',\"amount\":' || d.amount || ',"
        "\"draws\":[[' || to_json(d.lot) || ',' || to_json(d.unit_hex) || ',' || d.amount || ']]}}],"
        "\"minutes\":0,\"memo\":' || to_json(p_memo) || ',\"fingerprint\":' || to_json(encode(sha256(convert_to("
        "'[\"expiry\",' || to_json(d.lot) || ']', 'UTF8')), 'hex')) || ',\"actor\":\"expiry\","
        "\"unit_id\":{{\"_type_\":\"uuid_hex\",\"_data_\":' || to_json(d.unit_hex) || '}},\"reverses\":null,"
        "\"at\":{{\"_type_\":\"datetime_iso\",\"_data_\":' || to_json(p_at_text) || '}}}}', 'UTF8')"
    ).format(agg=Literal(AGGREGATE_TOPIC))
    return SQL(
        "CREATE OR REPLACE FUNCTION {function}(p_lots text[], p_ids uuid[], p_due date, p_at timestamptz, "
        "p_at_text text, p_day date, p_ts text, p_memo text) RETURNS TABLE (o_lot text, o_amount bigint) "
        "LANGUAGE plpgsql AS $body$\n"
        "DECLARE v_lot text[]; v_id uuid[]; v_account text[]; v_unit uuid[]; v_amount bigint[]; v_position bigint[];\n"
        "  v_accounts text[]; v_totals bigint[];\n"
        "BEGIN\n"
        # The caller holds the events table's EXCLUSIVE lock: these lots are current.
        "  SELECT array_agg(l.lot ORDER BY x.i), array_agg(x.id ORDER BY x.i), array_agg(l.account ORDER BY x.i),\n"
        "         array_agg(l.unit_id ORDER BY x.i), array_agg(l.remaining ORDER BY x.i)\n"
        "    INTO v_lot, v_id, v_account, v_unit, v_amount\n"
        "    FROM unnest(p_lots, p_ids) WITH ORDINALITY AS x(lot, id, i) JOIN {lots} l ON l.lot = x.lot\n"
        "    WHERE l.lot = ANY(p_lots) AND l.remaining > 0 AND l.expires_on < p_due;\n"
        "  IF v_lot IS NULL THEN RETURN; END IF;\n"
        "  WITH ins AS (\n"
        "    INSERT INTO {events} (originator_id, originator_version, topic, state)\n"
        "      SELECT d.id, 1, {topic}, {state}\n"
        "      FROM (SELECT y.*, replace(y.unit_id::text, '-', '') AS unit_hex\n"
        "            FROM unnest(v_lot, v_id, v_account, v_unit, v_amount) WITH ORDINALITY AS y(lot, id, account, unit_id, amount, i)) d\n"
        "      ORDER BY d.i\n"
        "      RETURNING notification_id)\n"
        "  SELECT array_agg(notification_id ORDER BY notification_id) INTO v_position FROM ins;\n"
        "  PERFORM {chain_append}(cardinality(v_lot), ARRAY[p_at]);\n"
        "  INSERT INTO {postings} (position, seq, transaction_id, key, kind, source_kind, source_id, destination_kind,\n"
        "      destination_id, amount, line_minutes, txn_minutes, unit_id, reverses, line, line_key, memo, at, day)\n"
        "    SELECT d.position, 0, d.id, 'expiry:' || d.lot, 'expiry', 'volunteer', substr(d.account, 11)::uuid, 'expired',\n"
        "      d.unit_id, d.amount, 0, 0, d.unit_id, NULL, NULL, NULL, p_memo, p_at, p_day\n"
        "    FROM unnest(v_position, v_id, v_lot, v_account, v_unit, v_amount) AS d(position, id, lot, account, unit_id, amount);\n"
        "  SELECT array_agg(z.account), array_agg(z.amount) INTO v_accounts, v_totals\n"
        "    FROM (SELECT y.account, sum(y.amount)::bigint AS amount FROM unnest(v_account, v_amount) AS y(account, amount)\n"
        "          GROUP BY y.account ORDER BY y.account) AS z;\n"
        "  UPDATE {balances} AS b SET balance = b.balance - s.amount, lot_version = b.lot_version + 1\n"
        "    FROM unnest(v_accounts, v_totals) AS s(account, amount) WHERE b.account = s.account AND b.account = ANY(v_accounts);\n"
        "  UPDATE {lots} AS l SET remaining = 0 WHERE l.lot = ANY(v_lot);\n"
        "  INSERT INTO {drawings} (position, seq, lot, unit_id, amount)\n"
        "    SELECT d.position, 0, d.lot, d.unit_id, d.amount FROM unnest(v_position, v_lot, v_unit, v_amount) AS d(position, lot, unit_id, amount);\n"
        "  RETURN QUERY SELECT * FROM unnest(v_lot, v_amount);\n"
        "END\n"
        "$body$"
    ).format(
        function=n["function"], lots=n["lots"], events=n["events"], topic=Literal(TOPIC), state=state,
        chain_append=n["chain_append"], postings=n["postings"], balances=n["balances"], drawings=n["drawings"],
    )


def ensure_function(recorder: Any) -> None:
    """Create the function once per recorder (under the schema's advisory lock: processes that
    start together would replace it at the same moment)."""
    if getattr(recorder, "_expire_lots_ready", False):
        return
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(recorder.schema_lock_statement)
        c.execute(_create_function(recorder))
    recorder._expire_lots_ready = True  # noqa: SLF001


def is_postgres(recorder: Any) -> bool:
    return hasattr(recorder, "lots_table") and hasattr(recorder, "lock_table_statements") and recorder.lock_table_statements


TIMINGS: list[tuple[float, float, float]] | None = None  # a bench sets a list: (lock wait, call, commit) seconds per chunk


def expire_lots(
    recorder: Any, lots: Sequence[str], *, due: date, at: datetime, day: date, memo: str
) -> list[tuple[str, int]]:
    """Expire these lots (those still due with points left, in this order), in one transaction;
    returns (lot, points) of each expired. Raises what the database raises (nothing recorded)."""
    ensure_function(recorder)
    n = _names(recorder)
    ids = [LedgerTransaction.create_id(f"expiry:{lot}") for lot in lots]
    t0 = time.perf_counter()
    with recorder.datastore.transaction(commit=True) as c:
        c.row_factory = tuple_row
        for statement in recorder.lock_table_statements:  # SET LOCAL lock_timeout; LOCK TABLE … EXCLUSIVE
            c.execute(statement)
        c.execute(SQL("NOTIFY {0}").format(Identifier(recorder.channel_name)))
        t1 = time.perf_counter()
        c.execute(
            SQL("SELECT o_lot, o_amount FROM {0}(%s::text[], %s::uuid[], %s, %s, %s, %s, %s, %s)").format(n["function"]),
            (list(lots), ids, due, at, at.isoformat(), day, datetime.now(timezone.utc).isoformat(), memo),
        )
        out = [(str(lot), int(amount)) for lot, amount in c.fetchall()]
        t2 = time.perf_counter()
    if TIMINGS is not None:
        TIMINGS.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    return out
