"""The hash chain is written with the events, on both stores, by every save path, and anyone
can recompute it from the events alone (``ledger.chain``)."""

from __future__ import annotations

import threading
from datetime import timedelta

from ledger.chain import GENESIS, event_digest, link


def chain_of(ledger):  # type: ignore[no-untyped-def]
    return ledger.recorder.select_chain(0, 10**9)


def assert_chain_matches_log(ledger) -> None:  # type: ignore[no-untyped-def]
    """Recompute the chain from the stored events: one row per event, same order, same hashes,
    recorded_at never going back."""
    events = list(ledger.iter_notifications())
    rows = chain_of(ledger)
    assert [r.notification_id for r in rows] == [n.id for n in events]
    h = GENESIS
    previous_at = None
    for n, row in zip(events, rows, strict=True):
        d = event_digest(n.originator_id, n.originator_version, n.topic, n.state)
        h = link(h, d)
        assert (row.digest, row.hash) == (d, h), f"event {n.id}"
        assert previous_at is None or row.recorded_at >= previous_at
        previous_at = row.recorded_at


def test_every_save_extends_the_chain_with_the_clock_time(ledger, clock) -> None:  # type: ignore[no-untyped-def]
    before = len(chain_of(ledger))  # the bootstrap token
    street = ledger.create_unit("青禾街道", "street", None)
    v = ledger.register_volunteer("居民", street.id)
    clock.advance(hours=3)
    ledger.credit("award:1", street.id, v.id, 10)
    assert_chain_matches_log(ledger)
    rows = chain_of(ledger)
    assert len(rows) == before + 3
    assert rows[0].recorded_at == clock.now() - timedelta(hours=3)
    assert rows[-1].recorded_at == clock.now()


def test_recorded_at_never_goes_back(ledger, clock) -> None:  # type: ignore[no-untyped-def]
    street = ledger.create_unit("青禾街道", "street", None)
    clock.advance(hours=-5)
    ledger.create_unit("杏林社区", "community", street.id)
    rows = chain_of(ledger)
    assert rows[-1].recorded_at == rows[-2].recorded_at
    assert_chain_matches_log(ledger)


def test_concurrent_writers_make_one_unbroken_chain(ledger, clock) -> None:  # type: ignore[no-untyped-def]
    before = len(chain_of(ledger))
    street = ledger.create_unit("青禾街道", "street", None)
    volunteers = [ledger.register_volunteer(f"居民{i}", street.id) for i in range(4)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                ledger.credit(f"award:{k}:{i}", street.id, volunteers[k].id, 1)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(chain_of(ledger)) == before + 1 + 4 + 60
    assert_chain_matches_log(ledger)


def test_a_batch_and_scans_interleaved_are_chained(services, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The batch runner's chunks and the attendance group committer's saves go through the same
    recorder: every one of their events is chained, in log order."""
    from concurrent.futures import ThreadPoolExecutor

    ledger, att = services.ledger, services.attendance
    street = ledger.create_unit("青禾街道", "street", None)
    now = clock.now()
    activity = att.create_activity("社区环境清洁", street.id, starts_at=now, ends_at=now + timedelta(hours=3), points_per_hour=10)
    scanners = [ledger.register_volunteer(f"扫码{i}", street.id).id for i in range(30)]
    others = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(10)]
    path = tmp_path / "day.csv"
    path.write_text("volunteer_id,points,line_key\n" + "".join(f"{others[i % 10].id},2,L{i}\n" for i in range(300)))
    batches = services.batches
    batches.chunk_lines = 20
    sub = batches.submit(batches.spool_file(path), "csv", key="day", title="公益日", unit_id=street.id, scope=None, actor="t")

    def scan(v) -> str:  # type: ignore[no-untyped-def]
        return att.scan_code(att.code_for(activity.id).code, v).action

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(scan, scanners))  # check in
        clock.advance(minutes=60)
        checked_out = pool.map(scan, scanners)  # the group committer pays these beside the batch
        batch = batches.run(sub.batch.id)
        assert set(checked_out) == {"check_out"}
    assert batch.status == "finished" and batch.accepted == 300
    credited = [n for n in ledger.iter_notifications() if n.topic.endswith("LedgerTransaction.Recorded")]
    assert len(credited) >= 30 + 300 // 20
    assert_chain_matches_log(ledger)


def _tamper(ledger, sql_sqlite: str, sql_postgres: str, nid: int) -> None:  # type: ignore[no-untyped-def]
    """Change the events table behind the application's back, as a hand edit would."""
    recorder = ledger.recorder
    postgres = hasattr(recorder, "chain_table")
    with recorder.datastore.transaction(commit=True) as c:
        if postgres:
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            c.execute(sql_postgres.format(table=table), (nid,))
        else:
            c.execute(sql_sqlite.format(table=recorder.events_table_name), (nid,))


def _filled(services, clock):  # type: ignore[no-untyped-def]
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    v = ledger.register_volunteer("居民", street.id)
    ids = []
    for i in range(4):
        clock.advance(hours=1)
        ids.append(ledger.credit(f"award:{i}", street.id, v.id, 10 + i, memo="清洁").transaction.id)
    services.catch_up()
    return [ledger.recorder.select_notification_id_of(t, 1) for t in ids]


def test_verify_finds_an_altered_event_row(services, clock) -> None:  # type: ignore[no-untyped-def]
    from ops.verify import CHAIN, verify

    nids = _filled(services, clock)
    assert verify(services).ok
    _tamper(
        services.ledger,
        "UPDATE {table} SET state = CAST(replace(CAST(state AS TEXT), '\"amount\":11', '\"amount\":12') AS BLOB) WHERE rowid = ?",
        "UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), '\"amount\":11', '\"amount\":12'), 'UTF8') "
        "WHERE notification_id = %s",
        nids[1],
    )
    report = verify(services)
    chain = [v.message for v in report.violations if v.invariant == CHAIN]
    assert len(chain) == 1 and chain[0].startswith(f"event {nids[1]} ") and "altered" in chain[0], chain


def test_verify_finds_a_removed_event_row(services, clock) -> None:  # type: ignore[no-untyped-def]
    from ops.verify import CHAIN, verify

    nids = _filled(services, clock)
    _tamper(services.ledger, "DELETE FROM {table} WHERE rowid = ?", "DELETE FROM {table} WHERE notification_id = %s", nids[2])
    report = verify(services)
    chain = [v.message for v in report.violations if v.invariant == CHAIN]
    assert len(chain) == 1 and f"breaks at event {nids[3]} " in chain[0] and f"follow event {nids[1]} " in chain[0], chain
