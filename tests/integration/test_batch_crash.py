"""Welfare-day batches under crashes and concurrency (both stores):
- ``moralbank batch import`` killed with SIGKILL mid-batch, then two ``batch resume`` at once:
  the batch completes exactly once (no line paid twice, none lost);
- a scan-like credit, a payment and a batch crediting the same volunteer at the same time all land.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from invariants import assert_invariants

from ledger.accounts import Posting, merchant_account, volunteer_account
from ledger.batches.domain import Batch
from ledger.errors import InsufficientPoints, NotFound
from ops.verify import verify

ROOT = Path(__file__).resolve().parents[2]
LINES = 3000


def cli(services: Any, tmp_path: Path, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {
        **os.environ,
        "MORALBANK_DATABASE_URL": services.settings.database_url,
        "MORALBANK_VAR_DIR": str(services.settings.var_dir),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("MORALBANK_BOOTSTRAP_TOKEN", None)
    log = (tmp_path / f"cli-{uuid.uuid4().hex[:6]}.log").open("w")
    try:
        return subprocess.Popen([sys.executable, "-m", "ops.cli", *args], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def test_killed_batch_resumes_exactly_once(services: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    vols = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(40)]
    rows = ["volunteer_id,points,line_key"] + [f"{vols[i % 40].id},{i % 7 + 1},L{i}" for i in range(LINES)]
    path = tmp_path / "welfare.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    expected: dict[str, int] = {}
    for i in range(LINES):
        a = volunteer_account(vols[i % 40].id)
        expected[a] = expected.get(a, 0) + i % 7 + 1
    batch_id = Batch.create_id(f"content:{street.id}:{hashlib.sha256(path.read_bytes()).hexdigest()}")

    args = ("batch", "import", str(path), "--unit", str(street.id), "--title", "公益日", "--chunk-lines", "100")
    proc = cli(services, tmp_path, *args, "--throttle", "0.05")
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = services.batches.get(batch_id).chunks_done
        except NotFound:
            done = 0
        if done >= 5:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    interrupted = services.batches.get(batch_id)
    assert 5 <= interrupted.chunks_done < LINES // 100, "the kill must land mid-batch"
    assert services.batches.unfinished() == [batch_id]

    # Restart: two resumers at once; each chunk is recorded by exactly one of them.
    resumers = [cli(services, tmp_path, "batch", "resume") for _ in range(2)]
    assert [p.wait(timeout=120) for p in resumers] == [0, 0], [p.read_text() for p in tmp_path.glob("cli-*.log")]
    # Importing the same file again is the same batch: nothing new.
    assert cli(services, tmp_path, *args).wait(timeout=60) == 0

    batch = services.batches.get(batch_id)
    assert (batch.status, batch.lines_done, batch.accepted, batch.refused) == ("finished", LINES, LINES, [])
    guarded = ledger.guarded_balances()
    assert {a: guarded.get(a, 0) for a in expected} == expected
    assert services.batches.unfinished() == []
    report = verify(services)
    assert report.ok, report.violations[:5]
    assert_invariants(services)


def test_scan_payment_and_batch_on_the_same_volunteer_all_land(services: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    target = ledger.register_volunteer("王秀英", street.id)
    others = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(10)]
    account = volunteer_account(target.id)
    shop = merchant_account(uuid.uuid4())
    rows = ["volunteer_id,points,line_key"]
    for i in range(600):
        rows.append(f"{(target if i % 3 == 0 else others[i % 10]).id},2,C{i}")
    path = tmp_path / "day.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    batches = services.batches
    batches.chunk_lines = 20  # many chunks, interleaved with the other writers
    sub = batches.submit(batches.spool_file(path), "csv", key="same-time", title="公益日", unit_id=street.id,
                         scope=None, actor="test")
    paid: list[int] = []
    stop = threading.Event()

    def scans() -> None:
        for i in range(60):  # what an activity check-out does: a credit with its own key
            ledger.credit(f"scan:{i}", street.id, target.id, 1, minutes=30)

    def payments() -> None:
        while not stop.is_set():
            try:
                ledger.post(f"pay:{uuid.uuid4()}", "redemption", [Posting(account, shop, 3)])
                paid.append(3)
            except InsufficientPoints:
                time.sleep(0.001)

    threads = [threading.Thread(target=scans), threading.Thread(target=payments)]
    for t in threads:
        t.start()
    batch = batches.run(sub.batch.id)
    threads[0].join()
    stop.set()
    threads[1].join()
    assert batch.status == "finished" and batch.accepted == 600
    assert ledger.guarded_balance(account) == 200 * 2 + 60 - sum(paid)
    assert sum(paid) > 0
    report = verify(services)
    assert report.ok, report.violations[:5]
    assert_invariants(services)


@pytest.mark.parametrize("lines", [200])
def test_bench_batch_smoke(lines: int, store: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """`moralbank bench batch` works end to end (PostgreSQL only: it compares with COPY)."""
    if store != "postgres":
        pytest.skip("the batch bench measures PostgreSQL")
    url = request.getfixturevalue("database_url")
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "bench", "batch", "--lines", str(lines), "--straightforward-lines", "50",
         "--database-url", url, "--out", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    doc = json.loads(out.read_text())
    whats = [r["what"] for r in doc["rows"]]
    assert whats[:4] == ["COPY into a plain table (limit)", "COPY into a table keyed by line key (floor of any batch)",
                         "set-based batch: upload → credited", "set-based batch: upload → visible in balances"]
    assert whats[4:6] == ["python batch: upload → credited", "python batch: upload → visible in balances"]
    assert doc["rows"][1]["lines"] == lines  # every line key in the file is distinct: all went in
    assert doc["meta"]["accepted"] == lines
    assert doc["meta"][f"python {lines}"]["accepted"] == lines and len(doc["meta"]["load average before"]) == 3


def test_export_import_keeps_paid_line_keys(services: Any, tmp_path: Path) -> None:
    """A batch and its reversal survive export → import: balances, paid line keys, verify."""
    from ops.settings import Settings
    from ops.transfer import export_log, import_log
    from ops.wiring import build_services, close_services

    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    vols = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(5)]
    path = tmp_path / "f.csv"
    path.write_text("volunteer_id,points,minutes,line_key\n" + "".join(f"{v.id},{i + 1},30,K{i}\n" for i, v in enumerate(vols)))
    batches = services.batches
    sub = batches.submit(batches.spool_file(path), "csv", key="x", title="公益日", unit_id=street.id, scope=None, actor="t")
    batches.run(sub.batch.id)
    batches.reverse(sub.batch.id, [2, 3])
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(ledger, f)
    target = build_services(Settings(database_url=f"sqlite:///{tmp_path}/copy.sqlite3", var_dir=tmp_path / "v2",
                                     secret_key="test-signing-key-not-for-production"))
    try:
        import_log(target, dump)
        assert sorted(target.ledger.recorder.select_line_keys()) == sorted(ledger.recorder.select_line_keys())
        assert len(ledger.recorder.select_line_keys()) == 5
        nonzero = lambda d: {a: b for a, b in d.items() if b}  # noqa: E731
        assert nonzero(target.ledger.guarded_balances()) == nonzero(ledger.guarded_balances())
        report = verify(target)
        assert report.ok, report.violations[:5]
        # the imported store refuses the same lines again
        again = target.batches.submit(target.batches.spool_file(path), "csv", key="y", title="公益日",
                                      unit_id=street.id, scope=None, actor="t")
        assert target.batches.run(again.batch.id).accepted == 0
    finally:
        close_services(target)
