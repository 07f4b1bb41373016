"""``moralbank report``: a unit's yearly report written as PDF, JSON and chart PNGs from the
command line, with verify's outcome in it when asked; bad arguments are refused by exit code."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.settings import Settings
from ops.wiring import build_services, close_services


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    path = tmp_path / "report.sqlite3"
    for key, value in {"MORALBANK_DATABASE_URL": f"sqlite:///{path}", "MORALBANK_VAR_DIR": str(tmp_path / "var"),
                       "MORALBANK_SECRET_KEY": "report-cli-key", "COLUMNS": "240"}.items():
        monkeypatch.setenv(key, value)
    svc = build_services(Settings())
    try:
        ledger = svc.ledger
        street = ledger.create_unit("望江街道", "street", None)
        community = ledger.create_unit("柳岸社区", "community", street.id)
        a = ledger.register_volunteer("顾清和", community.id)
        b = ledger.register_volunteer("钱晓岚", community.id)
        ledger.credit("cli-report:1", street.id, a.id, 30, minutes=90)
        ledger.credit("cli-report:2", street.id, b.id, 12, minutes=45)
        svc.catch_up()
    finally:
        close_services(svc)
    return {"street": str(street.id), "community": str(community.id)}


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_the_report_files_hold_the_year_and_verify_passed(store: dict[str, str], tmp_path: Path) -> None:
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    out = tmp_path / "out"
    result = invoke("report", "--unit", store["street"], "--year", str(year), "--out", str(out), "--verify")
    assert result.exit_code == 0, result.output
    stem = out / f"report-{year}-{store['street']}-zh"
    pdf = Path(f"{stem}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert Path(result.stdout.strip()) == Path(f"{stem}.pdf")
    doc = json.loads(Path(f"{stem}.json").read_text(encoding="utf-8"))
    assert doc["unit_name"] == "望江街道" and doc["year"] == year and not doc["empty"]
    assert doc["figures"]["minutes"] == 135 and doc["figures"]["earned"] == 42
    assert doc["integrity"]["verified"] == "passed"
    charts = sorted(out.glob(f"report-{year}-{store['street']}-zh-*.png"))
    assert charts and all(p.read_bytes().startswith(b"\x89PNG") for p in charts)


def test_english_and_unverified(store: dict[str, str], tmp_path: Path) -> None:
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    result = invoke("report", "--unit", store["community"], "--year", str(year), "--out", str(tmp_path), "--lang", "en")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / f"report-{year}-{store['community']}-en.json").read_text(encoding="utf-8"))
    assert doc["integrity"]["verified"] == "not_verified" and doc["figures"]["minutes"] == 135


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--year", "1999"), 1, "1999"),  # before the ledger began
        (("--year", "2999"), 1, "2999"),  # in the future
        (("--lang", "fr"), 2, "--lang"),
        (("--unit", "not-a-unit"), None, "unit"),
    ],
)
def test_bad_arguments_are_refused(store: dict[str, str], tmp_path: Path, args: tuple[str, ...], code: int | None, says: str) -> None:
    base = {"--unit": store["street"], "--out": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = invoke("report", *[x for kv in base.items() for x in kv])
    assert result.exit_code != 0 and (code is None or result.exit_code == code), result.output
    assert says in result.output
    assert not list(tmp_path.glob("report-*.pdf"))


def test_a_report_says_when_the_store_was_last_verified(store: dict[str, str], tmp_path: Path) -> None:
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    verified = invoke("verify")
    assert verified.exit_code == 0, verified.output
    result = invoke("report", "--unit", store["street"], "--year", str(year), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    integrity = json.loads((tmp_path / f"report-{year}-{store['street']}-zh.json").read_text(encoding="utf-8"))["integrity"]
    assert integrity["verified"] == "passed"
    assert integrity["verify_detail"].startswith(f"{year}-") and f"#{integrity['last_notification_id']:,}" in integrity["verify_detail"]
