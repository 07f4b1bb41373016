"""The set-based batch (PostgreSQL, ``ledger.batches.setbased_pg``) gives what the Python path gives.

Two stores holding the same log (the second imported from an export of the first) credit the same
10 000-line file with every kind of bad line under the same batch key at the same clock time: one
by the Python path, the other by the path the store picks (set-based on PostgreSQL; on SQLite the
Python path again, so the test also pins that SQLite keeps it). The report, the events (decoded,
but for the library's wall-clock ``timestamp``), the guarded balances, the lots, the paid line keys
and the postings rows are the same; verify passes on both.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from invariants import assert_invariants

from ledger.batches import setbased_pg
from ledger.clock import ManualClock
from ops.verify import verify

LINES = 10_000
CHUNK = 1000
ALL_REFUSED = range(3000, 4000)  # one whole chunk of bad lines: a ChunkPosted with no transaction


def _seed(ledger: Any, batches: Any, tmp_path: Path) -> dict[str, Any]:
    street = ledger.create_unit("青禾街道", "street", None)
    east = ledger.create_unit("东社区", "community", street.id)
    west = ledger.create_unit("西社区", "community", street.id)
    ledger.set_expiry_policy(east.id, "months", 12)  # every lot gets a last day
    inside = [ledger.register_volunteer(f"东{i}", east.id, member_no=f"E-{i}") for i in range(40)]
    outside = [ledger.register_volunteer(f"西{i}", west.id, member_no=f"W-{i}") for i in range(8)]
    came = ledger.register_volunteer("搬来", west.id, member_no="MOVED-IN")
    went = ledger.register_volunteer("搬走", east.id)
    ledger.move_volunteer(came.id, east.id)
    ledger.move_volunteer(went.id, west.id)
    # line keys an earlier batch of the same unit paid
    paid = tmp_path / "paid.csv"
    paid.write_text("volunteer,points,line_key\n" + "".join(f"{inside[i].id},1,PAID-{i}\n" for i in range(10)), encoding="utf-8")
    sub = batches.submit(batches.spool_file(paid), "csv", key="earlier", title="早先", unit_id=east.id, scope=None, actor="t")
    assert batches.run(sub.batch.id).accepted == 10
    return {"street": street.id, "east": east.id, "inside": inside + [came], "outside": outside + [went]}


def _file(town: dict[str, Any]) -> str:
    """Every kind of refusal the rules and the joins give, keyless lines, escapes in memos."""
    rnd = random.Random(15)
    inside, outside = town["inside"], town["outside"]
    rows: list[list[str]] = []
    keys: list[str] = []
    for i in range(LINES):
        v = inside[i % len(inside)]
        ref = str(v.id) if i % 3 else (v.member_no or str(v.id))
        points, minutes, key, memo = str(rnd.randint(1, 20)), rnd.choice(["", "0", "30", "90"]), f"WD-{i}", f"公益日 第{i}行"
        kind = rnd.choice((1, 2, 3, 4, 5, 6, 8, 12, 13, 16, 17, 18)) if i in ALL_REFUSED else i % 37
        if kind == 1:
            ref = str(uuid.uuid4())  # unknown_volunteer
        elif kind == 2:
            ref = "NO-SUCH-MEMBER"  # unknown_volunteer
        elif kind == 3:
            ref = str(outside[i % len(outside)].id)  # volunteer_out_of_scope (a moved-away one too)
        elif kind == 4:
            points = rnd.choice(["0", "-3", "1.5", "ten", ""])  # invalid_points
        elif kind == 5:
            points = "501"  # points_above_cap
        elif kind == 6:
            minutes = rnd.choice(["-5", "x", "100000"])  # invalid_minutes
        elif kind == 7 and keys:
            key = keys[-1]  # duplicate_line (by key)
        elif kind == 8:
            ref = ""  # missing_volunteer
        elif kind == 9:
            key = ""  # keyless: the content is the key
        elif kind == 10:
            key, memo = "", "同一行"  # keyless and the same content as the line before it: duplicate_line
            ref, points, minutes = str(inside[0].id), "7", "30"
        elif kind == 11:
            key = f"PAID-{i % 10}"  # already_paid
        elif kind == 12:
            key = "K" * 101  # invalid_line_key
        elif kind == 13:
            memo = "长" * 201  # invalid_memo
        elif kind == 14:
            memo = '引号"与\\反斜杠 \'单\''  # escaped in the JSON of the event
        elif kind == 15:
            ref = "MOVED-IN"  # a member who moved in: in scope
        elif kind == 16:
            ref = "W-3"  # a member outside: out of scope
        elif kind == 17:
            ref = f"bad\u0001member"  # unknown_volunteer: not a member number
        elif kind == 18:
            rows.append([ref, points, minutes, key, memo, "多余"])  # malformed_line
            continue
        rows.append([ref, points, minutes, key, memo])
        if key:
            keys.append(key)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["志愿者ID", "积分", "时长(分钟)", "序号", "备注"])
    w.writerows(rows)
    return out.getvalue()


def _second_store(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    from ops.settings import Settings
    from ops.wiring import build_services

    if store == "sqlite":
        url = f"sqlite:///{tmp_path}/second.sqlite3"
    else:
        url = request.getfixturevalue("pg_cluster").create_database(f"t_{uuid.uuid4().hex[:12]}")
    return build_services(
        Settings(database_url=url, var_dir=tmp_path / "var2", secret_key="test-signing-key-not-for-production", pool_size=8),
        clock=ManualClock(),
    )


def _events_after(ledger: Any, after: int) -> list[tuple[Any, ...]]:
    out = []
    for n in ledger.recorder.select_notifications(after + 1, 100_000):
        state = dict(ledger.mapper.to_domain_event(n).__dict__)
        state.pop("timestamp")  # the library's wall clock at the event's making
        out.append((n.originator_id, n.originator_version, n.topic, state))
    return out


def _lots(ledger: Any) -> list[tuple[Any, ...]]:
    return sorted(lot._replace(position=0) for lot in ledger.recorder.select_lots("", 1_000_000))


def _postings(ledger: Any) -> list[tuple[Any, ...]]:
    return [r._replace(position=0) for r in ledger.recorder.select_postings(0, 2**62, 1_000_000)]


@pytest.fixture
def second(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    from ops.wiring import close_services

    svc = _second_store(store, tmp_path, request)
    yield svc
    close_services(svc)


def test_set_based_batch_gives_what_the_python_path_gives(
    services: Any, second: Any, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops.transfer import export_log, import_log

    town = _seed(services.ledger, services.batches, tmp_path)
    dump = tmp_path / "seed.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(services.ledger, f)
    import_log(second, dump)
    seeded = (services.ledger.max_notification_id(), second.ledger.max_notification_id())
    path = tmp_path / "welfare-day.csv"
    path.write_text(_file(town), encoding="utf-8")

    set_based_runs: list[Any] = []
    real_run = setbased_pg.run
    monkeypatch.setattr(setbased_pg, "run", lambda *a: set_based_runs.append(a[1].id) or real_run(*a))

    def credit(svc: Any, set_based: bool) -> Any:
        batches = svc.batches
        batches.chunk_lines, batches.set_based = CHUNK, set_based
        sub = batches.submit(batches.spool_file(path), "csv", key="welfare-day", title="公益日 \"大扫除\"",
                             unit_id=town["east"], scope=[town["east"]], actor="organizer:1", cap=500)
        return batches.run(sub.batch.id)

    python = credit(services, set_based=False)
    assert set_based_runs == []
    chosen = credit(second, set_based=True)
    assert set_based_runs == ([chosen.id] if store == "postgres" else [])

    codes = {r[1] for r in python.refused}
    assert codes == {
        "malformed_line", "missing_volunteer", "unknown_volunteer", "volunteer_out_of_scope", "invalid_points",
        "points_above_cap", "invalid_minutes", "invalid_line_key", "invalid_memo", "duplicate_line", "already_paid",
    }
    assert python.status == "finished" and python.lines_done == LINES and python.chunks_done == LINES // CHUNK
    assert 5000 < python.accepted < LINES and len(python.transactions) == LINES // CHUNK - 1  # the refused chunk has none
    report = ("status", "lines_total", "lines_done", "chunks_done", "accepted", "points", "minutes", "refused", "transactions")
    assert {k: getattr(chosen, k) for k in report} == {k: getattr(python, k) for k in report}

    assert _events_after(second.ledger, seeded[1]) == _events_after(services.ledger, seeded[0])
    nonzero = lambda d: {a: b for a, b in d.items() if b}  # noqa: E731
    assert nonzero(second.ledger.guarded_balances()) == nonzero(services.ledger.guarded_balances())
    assert sorted(second.ledger.recorder.select_line_keys()) == sorted(services.ledger.recorder.select_line_keys())
    assert _lots(second.ledger) == _lots(services.ledger)
    assert all(lot.expires_on is not None for lot in _lots(second.ledger))
    assert _postings(second.ledger) == _postings(services.ledger)

    for svc in (services, second):
        checked = verify(svc)
        assert checked.ok, checked.violations[:5]
        assert_invariants(svc)

    # The same file again under another key: every line it credited is already paid, nothing moves.
    again = second.batches.submit(second.batches.spool_file(path), "csv", key="again", title="公益日", unit_id=town["east"],
                                  scope=[town["east"]], actor="organizer:1", cap=500)
    repeat = second.batches.run(again.batch.id)
    assert repeat.accepted == 0 and repeat.transactions == []
    assert sum(1 for r in repeat.refused if r[1] == "already_paid") == python.accepted + sum(
        1 for r in python.refused if r[1] == "already_paid"
    )


def test_set_based_batch_broken_inside_a_chunk_loses_nothing_and_pays_nothing_twice(
    services: Any, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails after a chunk's statements were sent but before its commit leaves the
    chunks before it whole and nothing of that chunk; the next run (staging the file again)
    credits the rest, each line once."""
    if store != "postgres":
        pytest.skip("the set-based path is PostgreSQL's")
    from ledger.accounts import volunteer_account

    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    vols = [ledger.register_volunteer(f"志愿者{i}", street.id, member_no=f"M{i}") for i in range(30)]
    rows = ["volunteer,points,line_key"] + [f"{vols[i % 30].id if i % 2 else vols[i % 30].member_no},{i % 5 + 1},L{i}" for i in range(1000)]
    path = tmp_path / "day.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    expected: dict[str, int] = {}
    for i in range(1000):
        account = volunteer_account(vols[i % 30].id)
        expected[account] = expected.get(account, 0) + i % 5 + 1
    batches = services.batches
    batches.chunk_lines = 100
    sub = batches.submit(batches.spool_file(path), "csv", key="broken", title="公益日", unit_id=street.id, scope=None, actor="t")

    real = setbased_pg._Run._post_locked

    def breaks_at_chunk_4(self: Any, batch: Any, chunk_no: int) -> Any:
        posted = real(self, batch, chunk_no)
        if chunk_no == 4:
            raise RuntimeError("the process dies before the commit")
        return posted

    monkeypatch.setattr(setbased_pg._Run, "_post_locked", breaks_at_chunk_4)
    with pytest.raises(RuntimeError):
        batches.run(sub.batch.id)
    stopped = batches.get(sub.batch.id)
    assert (stopped.chunks_done, stopped.accepted, len(stopped.transactions)) == (4, 400, 4)
    assert len(ledger.recorder.select_line_keys()) == 400
    assert sum(ledger.guarded_balances().values()) == stopped.points

    monkeypatch.setattr(setbased_pg._Run, "_post_locked", real)
    done = batches.run(sub.batch.id)
    assert (done.status, done.chunks_done, done.accepted, done.refused) == ("finished", 10, 1000, [])
    guarded = ledger.guarded_balances()
    assert {a: guarded.get(a, 0) for a in expected} == expected
    assert len(ledger.recorder.select_line_keys()) == 1000
    report = verify(services)
    assert report.ok, report.violations[:5]
    assert_invariants(services)
