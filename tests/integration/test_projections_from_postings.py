"""Projections catching up from the postings table (issue 16): on one random log of every kind of
movement (credits, activity points, batch lines with minutes and memos, redemptions, payments,
reversals of each, volunteers and units moving, week edges in Asia/Shanghai), caught up at random
points, every projection's rows equal a rebuild by the same path and a rebuild by the old path
(every event decoded by the library: the Python path). On PostgreSQL the postings path is the
set-based SQL; on SQLite it is Python over the postings rows."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ledger.errors import LedgerError
from projections.accounts import AccountsProjection
from projections.alliance import AllianceProjection
from projections.base import Follower, snapshot_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Sunday evening in Shanghai: a few hours on, the week (and, on the 30th, the month) turns.
START = datetime(2026, 11, 29, 22, 30, tzinfo=SHANGHAI)
VOLUNTEERS = 4

volunteer = st.integers(0, VOLUNTEERS - 1)
op = st.one_of(
    st.tuples(st.just("credit"), volunteer, st.integers(1, 30), st.sampled_from([0, 30, 90])),
    st.tuples(st.just("activity"), volunteer, st.integers(20, 150)),
    st.tuples(
        st.just("batch"),
        st.lists(st.tuples(volunteer, st.integers(1, 20), st.sampled_from([0, 15, 60]), st.sampled_from(["", "扫街", "公益日"])), min_size=1, max_size=5),
    ),
    st.tuples(st.just("redeem"), volunteer, st.integers(1, 10)),
    st.tuples(st.just("pay"), volunteer, st.integers(1, 10)),
    st.tuples(st.just("reverse_redemption")),
    st.tuples(st.just("reverse_credit")),
    st.tuples(st.just("reverse_batch_line")),
    st.tuples(st.just("move"), volunteer, st.integers(0, 3)),
    st.tuples(st.just("move_unit")),
    st.tuples(st.just("clock"), st.integers(1, 600)),
    st.tuples(st.just("catch_up")),
)


class Log:
    """One neighbourhood and the operations of one example, on one store."""

    def __init__(self, services: Any, clock: Any, tmp_path: Path) -> None:
        self.svc, self.clock, self.tmp = services, clock, tmp_path
        self.tag = uuid.uuid4().hex[:8]
        ledger = services.ledger
        clock.set(START)
        self.street = ledger.create_unit(f"街道{self.tag}", "street", None).id
        self.communities = [ledger.create_unit(f"社区{i}", "community", self.street).id for i in range(2)]
        self.compounds = [ledger.create_unit(f"小区{i}", "compound", c).id for i, c in enumerate(self.communities)]
        self.homes = [ledger.create_unit(f"楼{i}", "building", c).id for i, c in enumerate(self.compounds)]
        self.homes += [ledger.create_unit("驿站", "station", self.communities[0]).id, self.street]
        self.people = [
            ledger.register_volunteer(f"志愿者{i}", self.homes[i % 2], member_no=f"{self.tag}-{i}").id for i in range(VOLUNTEERS)
        ]
        self.shop, _ = services.alliance.register_merchant(f"商店{self.tag}", self.street)
        self.credits: list[Any] = []
        self.redemptions: list[Any] = []
        self.batches: list[Any] = []
        self.n = 0
        self.compound_home = 0  # which community the first compound is under

    def key(self) -> str:
        self.n += 1
        return f"{self.tag}:{self.n}"

    def run(self, o: tuple[Any, ...]) -> None:
        svc, ledger, clock = self.svc, self.svc.ledger, self.clock
        what = o[0]
        if what == "credit":
            self.credits.append(ledger.credit(self.key(), self.communities[o[1] % 2], self.people[o[1]], o[2], minutes=o[3]).transaction.id)
        elif what == "activity":
            att = svc.attendance
            activity = att.create_activity(f"活动{self.n}", self.street, clock.now(), clock.now() + timedelta(hours=3), 30)
            att.scan_code(att.code_for(activity.id).code, self.people[o[1]])
            clock.advance(o[2] * 60)
            att.scan_code(att.code_for(activity.id).code, self.people[o[1]])
        elif what == "batch":
            csv = self.tmp / f"{self.key()}.csv"
            csv.write_text(
                "member_no,points,minutes,memo\n" + "".join(f"{self.tag}-{v},{p},{m},{memo}\n" for v, p, m, memo in o[1]),
                encoding="utf-8",
            )
            b = svc.batches
            sub = b.submit(b.spool_file(csv), "csv", key=self.key(), title="公益日活动", unit_id=self.street, scope=None, actor="t")
            self.batches.append(b.run(sub.batch.id).id)
        elif what == "redeem":
            code = svc.alliance.issue_pay_code(self.people[o[1]]).code
            self.redemptions.append(svc.alliance.redeem(self.shop.id, code, points=o[2]).redemption.id)
        elif what == "pay":
            self.redemptions.append(svc.alliance.pay(self.people[o[1]], self.shop.id, self.key(), points=o[2]).redemption.id)
        elif what == "reverse_redemption" and self.redemptions:
            svc.alliance.reverse(self.redemptions.pop(), reason="撤销")
        elif what == "reverse_credit" and self.credits:
            ledger.reverse(self.credits.pop(), memo="冲正")
        elif what == "reverse_batch_line" and self.batches:
            svc.batches.reverse(self.batches.pop(), [1], memo="多发")
        elif what == "move":
            ledger.move_volunteer(self.people[o[1]], self.homes[o[2]])
        elif what == "move_unit":
            self.compound_home = 1 - self.compound_home
            ledger.move_unit(self.compounds[0], self.communities[self.compound_home])
        elif what == "clock":
            clock.advance(o[1] * 60)
        elif what == "catch_up":
            svc.catch_up()


def old_path(f: Follower) -> Follower:
    """The same projection (name, tables, position) fed by the library's reader, or for the
    leaderboards every transaction's JSON decoded in Python."""
    p = f.projection
    if isinstance(p, AccountsProjection):
        other: Any = AccountsProjection(use_postings=False)
    elif isinstance(p, AllianceProjection):
        other = AllianceProjection(use_postings=False)
    elif p.name == "leaderboards":
        other = copy.copy(p)
        other.use_sql = False
    else:
        other = p
    return Follower(f.ledger, f.db, other)


@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=5, max_size=30))
def test_postings_path_rows_equal_a_rebuild_and_the_old_path(services: Any, clock: Any, tmp_path: Path, store: str, ops: list[tuple[Any, ...]]) -> None:
    log = Log(services, clock, tmp_path)
    for f in services.followers:
        if f.name == "leaderboards":
            f.projection.sql_min_run = 1  # on PostgreSQL every run of transactions through the statement
    for o in ops:
        try:
            log.run(o)
        except LedgerError:
            pass  # refused (not enough points, already reversed, …): nothing moved
    services.catch_up()
    live = {f.name: snapshot_rows(services.db, f.projection) for f in services.followers}
    for f in services.followers:
        f.rebuild()
    assert {f.name: snapshot_rows(services.db, f.projection) for f in services.followers} == live
    for f in services.followers:
        old_path(f).rebuild()
        assert snapshot_rows(services.db, f.projection) == live[f.name], f.name
    paths = {f.name: (getattr(f.projection, "sql_events", None)) for f in services.followers}
    if store == "postgres":  # the postings path was the SQL statements
        assert all(paths[name] for name in ("accounts", "alliance", "leaderboards")), paths
    else:
        assert not any(paths[name] for name in ("accounts", "alliance", "leaderboards")), paths


def test_transactions_saved_with_the_alliance_records_keep_their_order(services: Any, clock: Any, tmp_path: Path) -> None:
    """A redemption's record names its transaction, and its reversal takes the redemption and
    offer from the line of the transaction it reverses, whichever path applies them."""
    log = Log(services, clock, tmp_path)
    log.run(("credit", 0, 20, 0))
    log.run(("redeem", 0, 5))
    log.run(("reverse_redemption",))
    services.catch_up()
    with services.db.read() as tx:
        lines = tx.all("SELECT * FROM statement_lines WHERE merchant_id = %s ORDER BY seq", (str(log.shop.id),))
    assert [int(r["points"]) for r in lines] == [5, -5]
    assert lines[0]["redemption_id"] and lines[1]["redemption_id"] == lines[0]["redemption_id"]
    assert lines[1]["volunteer_id"] == str(log.people[0])


def test_expected_rows_equal_the_projections_rows(services: Any, clock: Any, tmp_path: Path) -> None:
    """``projections.expected.expected_rows`` (for verify) computes a rebuild in temporary tables
    of one transaction: the same rows as the projection holds, and nothing left behind."""
    from projections.expected import expected_rows

    log = Log(services, clock, tmp_path)
    for o in [("credit", 0, 20, 30), ("batch", [(1, 5, 60, "扫街"), (1, 2, 0, "")]), ("redeem", 0, 5), ("move", 1, 2), ("credit", 1, 3, 0)]:
        log.run(o)
    services.catch_up()
    end = services.ledger.max_notification_id()
    for f in services.followers:
        if not f.projection.reads_raw:
            continue
        with services.db.transaction() as tx:
            got = expected_rows(services.ledger, tx, f.projection, end)
        assert got == snapshot_rows(services.db, f.projection), f.name
