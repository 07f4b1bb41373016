"""The ``moralbank`` command line, in process (typer's CliRunner), on a SQLite store."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from ledger.clock import ManualClock
from ops.cli import app
from ops.settings import Settings
from ops.wiring import build_services, close_services
from projections.base import snapshot_rows

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("MORALBANK_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("MORALBANK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "240")  # rich tables: no truncated ids
    monkeypatch.delenv("MORALBANK_BOOTSTRAP_TOKEN", raising=False)
    return path


def run(*args: str, code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.stdout, result.stderr


def make_tree() -> dict[str, str]:
    street, _ = run("units", "create", "青禾街道", "--kind", "street")
    community, _ = run("units", "create", "枫桥社区", "--kind", "community", "--parent", street.strip())
    compound, _ = run("units", "create", "枫桥嘉园", "--kind", "compound", "--parent", community.strip())
    volunteer, _ = run(
        "volunteers", "create", "赵德胜", "--unit", compound.strip(), "--member-no", "FQ001", "--phone-last4", "0420"
    )
    ids = {"street": street, "community": community, "compound": compound, "volunteer": volunteer}
    return {k: v.strip() for k, v in ids.items()}


def services_on(path: Path):  # type: ignore[no-untyped-def]
    return build_services(Settings(database_url=f"sqlite:///{path}"), clock=ManualClock())


def test_tokens_create_list_revoke(db_path: Path) -> None:
    secret, message = run("tokens", "create", "--role", "admin", "--name", "值班管理员")
    secret = secret.strip()
    assert secret.startswith("mb_a_") and len(secret) > 30
    assert "shown only this once" in message
    token_id = re.search(r"token ([0-9a-f-]{36})", message).group(1)  # type: ignore[union-attr]

    listing, _ = run("tokens", "list")
    assert token_id in listing and "值班管理员" in listing and "active" in listing
    assert secret not in listing and "…" + secret[-4:] in listing

    run("tokens", "revoke", token_id)
    listing, _ = run("tokens", "list")
    assert "revoked" in listing
    run("tokens", "revoke", token_id)  # harmless twice

    svc = services_on(db_path)
    try:
        from ledger.errors import TokenRevoked

        with pytest.raises(TokenRevoked):
            svc.ledger.authenticate(secret)
    finally:
        close_services(svc)


def test_scoped_tokens(db_path: Path) -> None:
    ids = make_tree()
    secret, _ = run("tokens", "create", "--role", "organizer", "--name", "枫桥 组织者", "--unit", ids["community"])
    assert secret.startswith("mb_o_")
    secret, _ = run("tokens", "create", "--role", "volunteer", "--name", "赵德胜", "--subject", ids["volunteer"])
    svc = services_on(db_path)
    try:
        token = svc.ledger.authenticate(secret.strip())
        assert str(token.subject_id) == ids["volunteer"] and token.role == "volunteer"
    finally:
        close_services(svc)


@pytest.mark.parametrize(
    "args, code, says",
    [
        (["--role", "king", "--name", "x"], 2, "--role must be one of"),
        (["--role", "volunteer", "--name", "x"], 2, "needs --subject"),
        (["--role", "organizer", "--name", "x"], 2, "at least one --unit"),
        (["--role", "organizer", "--name", "x", "--unit", "not-an-id"], 2, "must be an id"),
        (["--role", "organizer", "--name", "x", "--unit", "00000000-0000-0000-0000-000000000001"], 1, "unit not found"),
    ],
)
def test_tokens_create_refusals(db_path: Path, args: list[str], code: int, says: str) -> None:
    result = CliRunner().invoke(app, ["tokens", "create", *args])
    assert result.exit_code == code, result.output
    assert says in result.stderr
    assert result.stdout == ""


def test_units_and_volunteers(db_path: Path) -> None:
    ids = make_tree()
    assert all(UUID_RE.match(v) for v in ids.values())
    tree, _ = run("units", "list")
    lines = tree.splitlines()
    street_line = next(i for i, line in enumerate(lines) if "青禾街道" in line)
    compound_line = next(i for i, line in enumerate(lines) if "枫桥嘉园" in line)
    assert street_line < compound_line and ids["compound"] in lines[compound_line]
    assert "1 volunteer(s)" in lines[compound_line]

    listing, _ = run("volunteers", "list", "--unit", ids["compound"])
    assert "赵德胜" in listing and "FQ001" in listing and "…0420" in listing
    listing, _ = run("volunteers", "list", "--unit", ids["community"])
    assert "赵德胜" not in listing

    _, error = run("units", "create", "孤岛社区", "--kind", "community", code=1)
    assert "cannot be placed under nothing" in error
    _, error = run("volunteers", "create", "钱二", "--unit", ids["compound"], "--member-no", "FQ001", code=1)
    assert "member number already registered" in error
    run("volunteers", "create", "钱二", "--unit", ids["compound"], "--phone-last4", "12", code=2)


def test_verify_exit_codes(db_path: Path) -> None:
    ids = make_tree()
    svc = services_on(db_path)
    try:
        for i in range(5):
            svc.ledger.credit(f"k{i}", UUID(ids["community"]), UUID(ids["volunteer"]), 10, minutes=30)
    finally:
        close_services(svc)
    report, _ = run("verify")
    assert "OK" in report and "transactions" in report

    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE balances SET earned = earned + 1 WHERE kind = 'volunteer'")
    report, _ = run("verify", code=1)
    assert "violation(s)" in report and "earned 51 (replay 50)" in report
    run("rebuild", "accounts")
    run("verify")

    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE ledger_balances SET balance = 0")
    report, _ = run("verify", "--no-catch-up", code=1)
    assert "the write side guards 0 but the replay gives 50" in report


def test_rebuild_gives_the_same_rows(db_path: Path) -> None:
    ids = make_tree()
    svc = services_on(db_path)
    try:
        for i in range(30):
            svc.ledger.credit(f"k{i}", UUID(ids["community"]), UUID(ids["volunteer"]), 1 + i, minutes=i)
        svc.catch_up()
        before = {f.name: snapshot_rows(svc.db, f.projection) for f in svc.followers}
        table, _ = run("rebuild", "--all")
        assert "accounts" in table and "directory" in table
        after = {f.name: snapshot_rows(svc.db, f.projection) for f in svc.followers}
        assert after == before
        run("rebuild", "directory")
        assert {f.name: snapshot_rows(svc.db, f.projection) for f in svc.followers} == before
    finally:
        close_services(svc)
    _, error = run("rebuild", code=2)
    assert "accounts" in error
    run("rebuild", "nonesuch", code=2)
    run("rebuild", "accounts", "--all", code=2)


def test_project_once_and_export_import(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree()
    _, progress = run("project", "--once", "--batch-size", "2")
    assert "accounts: applied" in progress

    dump = tmp_path / "dump.jsonl"
    _, message = run("export", "--out", str(dump))
    assert "exported" in message
    stdout, _ = run("export")
    assert stdout.splitlines()[1:] == dump.read_text(encoding="utf8").splitlines()[1:]

    _, error = run("import", str(dump), code=2)  # the store it came from is not empty
    assert "not empty" in error

    monkeypatch.setenv("MORALBANK_DATABASE_URL", f"sqlite:///{tmp_path}/restored.sqlite3")
    monkeypatch.setenv("MORALBANK_BOOTSTRAP_TOKEN", "mb_test_bootstrap_for_cli")  # must not block the import
    _, message = run("import", str(dump))
    assert f"imported {len(dump.read_text(encoding='utf8').splitlines()) - 1} event(s)" in message
    tree, _ = run("units", "list")
    assert "枫桥嘉园" in tree
    run("verify")


def test_demo_builds_a_neighbourhood_that_verifies(db_path: Path) -> None:
    stdout, message = run("demo")
    assert "http://127.0.0.1:8000/docs" in message
    assert re.search(r"2000 volunteers, \d+ activities with \d+ scans, a welfare day of 600 batch lines", message)
    assert re.search(r"12 shops with [1-9]\d* redemptions, 2 reversals", message)
    for prefix, page in (("mb_a_", "/pages/console"), ("mb_o_", "/pages/console"), ("mb_v_", "/pages/volunteer"), ("mb_m_", "/pages/till")):
        assert f"page:  http://127.0.0.1:8000{page}" in stdout and f"token: {prefix}" in stdout
    assert re.search(r"or sign in once by link: http://127\.0\.0\.1:8000/pages/signin#token=\S+", stdout)  # the organizer's
    run("verify")
    listing, count = run("volunteers", "list", "--limit", "5000")
    assert "2000 volunteer(s)" in count and len(re.findall(r"QH\d{4}", listing)) == 2000

    again, message = run("demo")  # keeps the store, issues new tokens
    assert "keeping it" in message and "mb_o_" in again
    stdout, message = run("demo", "--fresh", "--volunteers", "40")
    assert "building the demo" in message and "40 volunteers" in message
    report, _ = run("verify")
    assert "OK" in report


def test_console_script_runs(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("moralbank")
    assert script.exists(), "pip install -e . makes the moralbank console script"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "project", "tokens", "units", "volunteers", "verify", "export", "import", "rebuild", "demo"):
        assert command in result.stdout


def test_bad_settings_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MORALBANK_DATABASE_URL", "mysql://nope")
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 2
    assert "MORALBANK_DATABASE_URL" in result.stderr
