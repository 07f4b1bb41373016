"""``moralbank expire`` and the scheduled run beside the projection followers."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.accounts import volunteer_account
from ledger.clock import ManualClock
from ops.cli import app
from ops.projecting import ExpiryThread
from ops.settings import Settings
from ops.wiring import build_services, close_services


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("MORALBANK_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("MORALBANK_VAR_DIR", str(tmp_path / "var"))
    return path


def test_expire_command_and_the_scheduled_run(db_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 31, 3, 0, tzinfo=timezone.utc))
    svc = build_services(Settings(database_url=f"sqlite:///{db_path}"), clock=clock)
    try:
        ledger = svc.ledger
        street = ledger.create_unit("青禾街道", "street", None)
        ledger.set_expiry_policy(street.id, "months", 1)
        vs = [ledger.register_volunteer(f"v{i}", street.id) for i in range(2)]
        ledger.credit("a", street.id, vs[0].id, 7)
        clock.advance(days=2)
        ledger.credit("b", street.id, vs[1].id, 9)  # last day 2026-03-02
    finally:
        close_services(svc)

    runner = CliRunner()
    result = runner.invoke(app, ["expire", "--at", "2026-02-28T23:59:00+08:00"])  # the last day itself
    assert result.exit_code == 0, result.output
    assert "expired 0 lot(s)" in result.stderr
    result = runner.invoke(app, ["expire", "--at", "2026-03-01T00:00:00+08:00"])
    assert result.exit_code == 0 and "expired 1 lot(s), 7 point(s)" in result.stderr, result.output
    assert runner.invoke(app, ["expire", "--at", "2026-03-01T00:00:00"]).exit_code == 2  # no offset

    clock.set(datetime(2026, 3, 3, tzinfo=timezone.utc))
    svc = build_services(Settings(database_url=f"sqlite:///{db_path}"), clock=clock)
    try:
        thread = ExpiryThread(svc.ledger, every=0.05).start()
        deadline = time.monotonic() + 10
        while svc.ledger.guarded_balance(volunteer_account(vs[1].id)) and time.monotonic() < deadline:
            time.sleep(0.02)
        thread.stop()
        assert svc.ledger.guarded_balance(volunteer_account(vs[1].id)) == 0
        assert thread.runs >= 1 and not thread.thread.is_alive()  # type: ignore[union-attr]
    finally:
        close_services(svc)
