"""Export → import into a fresh store gives the same ledger: same events (byte for byte), same
balances, entries, directory and guard, and it verifies. Imports are refused unless the
target is empty and the file is whole. Run on both stores, and across them."""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.errors import InsufficientPoints, TokenRevoked
from ops.transfer import BadExportFile, ImportRefused, decode_state, encode_state, export_log, import_log
from ops.verify import verify
from projections import queries
from projections.base import snapshot_rows


def fill(ledger, clock):  # type: ignore[no-untyped-def]
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("杏林社区", "community", street.id)
    compound = ledger.create_unit("杏林苑", "compound", community.id)
    volunteers = [ledger.register_volunteer(f"居民{i}", compound.id, phone_last4=f"{i:04d}") for i in range(6)]
    awards = []
    for i, v in enumerate(volunteers):
        clock.advance(hours=5)
        awards.append(ledger.credit(f"award:{i}", community.id, v.id, 20 + i, minutes=45, memo="敬老院陪伴"))
    ledger.reverse(awards[2].transaction.id, memo="mistake")
    a, b = volunteer_account(volunteers[0].id), volunteer_account(volunteers[1].id)
    ledger.post("move:1", "adjustment", [Posting(a, b, 4), Posting(b, issuing_account(community.id), 1)])
    with pytest.raises(InsufficientPoints):  # on PostgreSQL this leaves a gap in the notification ids
        ledger.post("move:2", "adjustment", [Posting(a, b, 1_000)])
    ledger.credit("award:last", street.id, volunteers[5].id, 7, kind="batch", minutes=120)
    organizer = ledger.issue_token("organizer", "杏林 组织者", unit_ids=[community.id])
    ledger.revoke_token(organizer.token.id)
    return volunteers, organizer


def event_lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    lines = path.read_text(encoding="utf8").splitlines()
    return [json.loads(line) for line in lines[1:]]


def entries_by_account(db) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def,type-arg]
    """Each account's entries in order, without the notification ids (an import may renumber)."""
    out: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    with db.read() as tx:
        for row in tx.all("SELECT * FROM entries ORDER BY account, seq"):
            row.pop("seq")
            out[row["account"]].append(row)
    return dict(out)


@pytest.fixture
def target_url(request, store, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty store: of the same kind as the source, or of the other kind."""
    kind = store if request.param == "same" else {"sqlite": "postgres", "postgres": "sqlite"}[store]
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/restored.sqlite3"
    return request.getfixturevalue("pg_cluster").create_database(f"r_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def target(target_url, settings, clock):  # type: ignore[no-untyped-def]
    from ops.wiring import build_services, close_services

    svc = build_services(settings.model_copy(update={"database_url": target_url, "bootstrap_token": None}), clock=clock)
    yield svc
    close_services(svc)


@pytest.mark.parametrize("target_url", ["same", "other"], indirect=True)
def test_export_import_round_trip(services, target, clock, tmp_path, store):  # type: ignore[no-untyped-def]
    volunteers, organizer = fill(services.ledger, clock)
    services.catch_up()
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        exported = export_log(services.ledger, f)
    header = json.loads(dump.read_text(encoding="utf8").splitlines()[0])
    assert header["format"] == "moralbank-export" and header["version"] == 2
    assert header["events"] == exported.events == len(list(services.ledger.iter_notifications()))
    assert all("state" in line for line in event_lines(dump))  # JSON states, readable by anyone

    result = import_log(target, dump, chunk_size=7)  # small chunks: guard deltas per chunk
    assert result.events == exported.events
    assert result.transactions == verify(services).transactions

    # the same events, byte for byte, in the same order
    again = tmp_path / "again.jsonl"
    with again.open("w", encoding="utf8") as f:
        export_log(target.ledger, f)
    strip = lambda lines: [{k: v for k, v in line.items() if k != "id"} for line in lines]  # noqa: E731
    assert strip(event_lines(again)) == strip(event_lines(dump))
    # and the same hash chain (digest, hash and time of every event are in the lines), to the head
    assert json.loads(again.read_text(encoding="utf8").splitlines()[0])["chain_head"] == header["chain_head"]
    assert all({"digest", "hash", "recorded_at"} <= set(line) for line in event_lines(again))
    assert result.renumbered == sum(
        1 for a, b in zip(event_lines(dump), event_lines(again), strict=True) if a["id"] != b["id"]
    )
    if store == "postgres":  # the refused transaction consumed sequence values: ids after it move up
        assert result.renumbered > 0

    # the same ledger
    report = verify(target)
    assert report.ok, report.violations
    nonzero = lambda balances: {k: v for k, v in balances.items() if v}  # noqa: E731
    assert nonzero(target.ledger.guarded_balances()) == nonzero(services.ledger.guarded_balances())
    assert queries.all_balances(target.db) == queries.all_balances(services.db)
    assert entries_by_account(target.db) == entries_by_account(services.db)
    for projection in ("units", "volunteers"):
        with services.db.read() as a, target.db.read() as b:
            assert b.all(f"SELECT * FROM {projection} ORDER BY id") == a.all(f"SELECT * FROM {projection} ORDER BY id")
    directory = next(f.projection for f in services.followers if f.name == "directory")
    assert snapshot_rows(target.db, directory) == snapshot_rows(services.db, directory)

    # tokens came along: the bootstrap admin still works, the revoked one stays revoked
    bootstrap = services.settings.bootstrap_token.get_secret_value()
    assert target.ledger.authenticate(bootstrap).role == "admin"
    with pytest.raises(TokenRevoked):
        target.ledger.authenticate(organizer.secret)
    # and the restored ledger keeps working
    target.ledger.credit("after-import", volunteers[0].unit_id, volunteers[0].id, 1)


@pytest.mark.parametrize("target_url", ["same"], indirect=True)
def test_import_into_a_non_empty_store_is_refused(services, target, clock, tmp_path):  # type: ignore[no-untyped-def]
    fill(services.ledger, clock)
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(services.ledger, f)
    end = services.ledger.max_notification_id()
    with pytest.raises(ImportRefused):
        import_log(services, dump)
    assert services.ledger.max_notification_id() == end

    target.ledger.create_unit("另一条街道", "street", None)
    with pytest.raises(ImportRefused, match="not empty"):
        import_log(target, dump)


@pytest.mark.parametrize("target_url", ["same"], indirect=True)
def test_a_damaged_file_is_refused_before_anything_is_written(services, target, clock, tmp_path):  # type: ignore[no-untyped-def]
    fill(services.ledger, clock)
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(services.ledger, f)
    lines = dump.read_text(encoding="utf8").splitlines(keepends=True)

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(lines[:-3]), encoding="utf8")
    with pytest.raises(BadExportFile, match="truncated"):
        import_log(target, truncated)

    garbled = tmp_path / "garbled.jsonl"
    garbled.write_text("".join(lines[:-1]) + lines[-1][:40] + "\n", encoding="utf8")
    with pytest.raises(BadExportFile, match="line"):
        import_log(target, garbled)

    not_ours = tmp_path / "other.jsonl"
    not_ours.write_text('{"format": "something-else"}\n', encoding="utf8")
    with pytest.raises(BadExportFile):
        import_log(target, not_ours)
    assert target.ledger.max_notification_id() == 0


@pytest.mark.parametrize(
    "state",
    [
        b'{"a":1,"b":"\xe9\x9d\x92"}',  # canonical JSON (as the transcoder writes it): kept as JSON
        b'{"a": 1}',  # JSON, but not byte-identical when re-encoded: kept as base64
        b"\x78\x9c\x01\x02",  # compressed or encrypted bytes
        b"",
    ],
)
def test_states_survive_exactly(state: bytes) -> None:
    encoded = encode_state(state)
    assert decode_state(json.loads(json.dumps(encoded))) == state
    if "state_b64" in encoded:
        assert base64.b64decode(encoded["state_b64"]) == state
