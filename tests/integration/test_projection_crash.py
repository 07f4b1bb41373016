"""Invariant 5 after crashes: `moralbank project` killed with SIGKILL part-way through a long
log, three times at different points, then caught up with --once, leaves exactly the rows of a
rebuild from scratch, at the log's end (on both stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.accounts import Posting, issuing_account, volunteer_account
from ops.verify import verify
from projections.base import TRACKING_TABLE, snapshot_rows

pytestmark = pytest.mark.slow

TRANSACTIONS = 5_000
VOLUNTEERS = 40
BATCH = 20
# Kill when the accounts projection has passed each of these fractions of the log.
KILL_AT = (0.15, 0.45, 0.75)
ROOT = Path(__file__).resolve().parents[2]


def fill(ledger, clock) -> None:  # type: ignore[no-untyped-def]
    """5 000 award transactions, each to one or two volunteers. They are built by the journal as
    ``Ledger.post`` builds them (events, balance deltas, posting rows) and saved a hundred per
    save (one database transaction), so that setup takes seconds, not tens of them."""
    from ledger.journal import Movement

    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    volunteers = [ledger.register_volunteer(f"志愿者{i}", community.id) for i in range(VOLUNTEERS)]
    issuing = issuing_account(community.id)
    chunk: list[Any] = []
    for i in range(TRANSACTIONS):
        a, b = volunteers[i % VOLUNTEERS], volunteers[(i * 7 + 3) % VOLUNTEERS]
        postings = [Posting(issuing, volunteer_account(a.id), 3)]
        if a.id != b.id:
            postings.append(Posting(issuing, volunteer_account(b.id), 2))
        movement = Movement(f"crash:{i}", "award", postings, minutes=30, memo=f"第{i}次", actor="test", unit_id=community.id)
        chunk.append(ledger.journal.transaction(movement, at=clock.advance(seconds=1)))
        if len(chunk) == 100 or i == TRANSACTIONS - 1:
            ledger.journal.commit(*chunk, grouped=False)
            chunk = []


def position(services, projection: str = "accounts") -> int:  # type: ignore[no-untyped-def]
    with services.db.read() as tx:
        row = tx.one(f"SELECT notification_id FROM {TRACKING_TABLE} WHERE projection = %s", (projection,))
    return int(row["notification_id"]) if row else 0


def worker(database_url: str, tmp_path: Path, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {
        **os.environ,
        "MORALBANK_DATABASE_URL": database_url,
        "MORALBANK_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MORALBANK_BOOTSTRAP_TOKEN", None)
    with (tmp_path / "worker.log").open("a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "project", "--batch-size", str(BATCH), "--poll", "0.01", *args],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )


def test_killed_projection_worker_resumes_exactly_once(services, database_url, tmp_path, clock):  # type: ignore[no-untyped-def]
    ledger = services.ledger
    fill(ledger, clock)
    end = ledger.max_notification_id()
    assert position(services) == 0

    kills = []
    for fraction in KILL_AT:
        proc = worker(database_url, tmp_path)
        deadline = time.monotonic() + 90
        try:
            while (at := position(services)) < fraction * end:
                assert proc.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, f"the worker is stuck at {at} of {end}"
                time.sleep(0.002)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        kills.append(position(services))
    # each kill landed part-way, and each restart resumed where the last one stopped
    assert all(0.1 * end <= k <= 0.9 * end for k in kills), (kills, end)
    assert kills == sorted(kills) and len(set(kills)) == len(kills)

    once = worker(database_url, tmp_path, "--once")
    assert once.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()
    for f in services.followers:
        assert f.position() == end, f.name

    after_crashes = {f.name: snapshot_rows(services.db, f.projection) for f in services.followers}
    # one entry per account a transaction touches: the issuing account and one or two volunteers
    expected = sum(2 if i % VOLUNTEERS == (i * 7 + 3) % VOLUNTEERS else 3 for i in range(TRANSACTIONS))
    assert len(after_crashes["accounts"]["entries"]) == expected
    for f in services.followers:
        f.rebuild()
        assert f.position() == end
    rebuilt = {f.name: snapshot_rows(services.db, f.projection) for f in services.followers}
    assert rebuilt == after_crashes
    report = verify(services, catch_up_first=False)
    assert report.ok, report.violations[:5]
    assert report.transactions == TRANSACTIONS
